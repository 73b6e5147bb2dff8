pytest_plugins = ["tests.engine"]
