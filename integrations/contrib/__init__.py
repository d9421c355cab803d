"""Optional integrations of the app with other Django packages, each installed on its own."""
