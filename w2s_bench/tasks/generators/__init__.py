"""Dataset generators: tasks whose data the project makes itself, referenced from YAML as `dataset_path: generator:<name>`."""
