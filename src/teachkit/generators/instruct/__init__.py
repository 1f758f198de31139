"""The instruction recipes: Self-Instruct and Alpaca, and their shared parts.

``base`` (recipe keys, instruction rules, the generator base), ``pool`` (the task pool and its
ROUGE-L novelty check), ``parse`` (reading answers), ``prompts`` (request mode and prompt layout),
``stats`` (the paper's statistics), then one module per recipe: ``self_instruct``, ``alpaca``.
"""
