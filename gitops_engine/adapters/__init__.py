"""The only modules that touch disk, network, git or other processes."""
