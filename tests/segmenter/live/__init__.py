"""Live segmentation: the folder watcher and the replay tool."""
