"""The networks and how they learn: the model families (stacked MLP and CNN on one ``stack.Stack``
base), the learning rules (a torch-free registry, and their autograd code in ``feedback``) and the
optimisers, the training engine, the controls' starting networks, and the metrics measured on
networks (alignment angles, effective rank). Reads ``data`` (a noise set's image shape); knows
nothing of the config, the plan or the claims."""
