"""The locate-then-edit family (ROME, MEMIT, AlphaEdit): keys and values at a layer, target
vectors, and second-moment statistics of the keys, cached per world and model."""
