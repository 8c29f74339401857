"""Operating the assistant.

The command line, starting and stopping the services, training, the local cluster, throw-away local servers.
"""
