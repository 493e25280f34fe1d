"""URL map for our CloudWatch Logs backend (same shape as moto's, pointing at our responses)."""

from localcloud.logs.responses import LocalLogsResponse

url_bases = [r"https?://logs\.(.+)\.amazonaws\.com"]

url_paths = {"{0}/$": LocalLogsResponse.dispatch}
