"""What a clip holds: `contracts.video_probe`, where the API (which never imports `models`) probes
an upload with the same code before it stores anything."""

from contracts.video_probe import VideoInfo, picture_stream, probe

__all__ = ["VideoInfo", "picture_stream", "probe"]
