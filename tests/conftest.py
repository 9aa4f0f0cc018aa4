"""The project's own tests: the fleet harness plugin provides `fleet`."""

pytest_plugins = ["fleet.plugin"]
