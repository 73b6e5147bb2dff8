pytest_plugins = ["tests.engine", "tests.emulator_fixtures", "tests.sf_cli", "tests.metadata_zip"]
