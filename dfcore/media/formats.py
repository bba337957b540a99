"""The file kinds dfcore reads, by extension (no decoder imported: dataset readers need only the names)."""

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".avi", ".mov", ".mkv", ".webm"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png"})
SUPPORTED_EXTENSIONS = VIDEO_EXTENSIONS | IMAGE_EXTENSIONS
