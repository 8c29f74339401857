"""Operating the assistant: the command line, starting and stopping the services, training, the local cluster, throw-away local servers."""
