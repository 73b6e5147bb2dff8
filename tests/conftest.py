pytest_plugins = ["tests.engine", "tests.emulator_fixtures", "tests.sf_cli"]
