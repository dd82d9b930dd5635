"""The project's own error types: every failure a user can cause names the file, field and value."""


class HairNetError(Exception):
    """Base class: a problem with the user's input, reported without a library traceback."""


class DataError(HairNetError):
    """An image, mask, attribute file or split list that cannot be read as the dataset says."""


class CheckpointError(HairNetError):
    """A checkpoint that is missing, corrupt, unsafe or of another architecture."""


class ConversionError(HairNetError):
    """Core ML conversion or verification that cannot proceed as the contract requires."""


class OutputError(HairNetError):
    """An output file or folder that cannot be written (unwritable folder, full disk, a file in the way)."""
