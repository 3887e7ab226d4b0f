"""The unlearning family: the objectives (``losses``) and the trainer every unlearning method
shares (``trainer``). The methods live in their own folders (``editors/ga``, ``graddiff``,
``npo``, ``simnpo``, ``rmu``, ``refusal``, ``relabel``); this folder registers nothing."""
