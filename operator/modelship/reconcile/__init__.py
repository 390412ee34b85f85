"""Pure decisions of the operator: the objects a ModelDeployment should own (Deployment,
Service), which version to serve, how healthy the serving pods are, and the status that tells
the truth about it. Nothing here does I/O or reads the clock; callers pass observed state in.
"""
