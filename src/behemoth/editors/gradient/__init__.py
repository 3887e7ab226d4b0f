"""The gradient family (FT, LoRA; next: unlearning by GA, GradDiff, NPO, RMU): one trainer whose
loss is a hook (:class:`behemoth.editors.gradient.trainer.GradientTrainer`)."""
