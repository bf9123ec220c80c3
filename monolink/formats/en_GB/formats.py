"""One date format on every page, the admin included ('23 Nov 2026, 14:05'), instead of Django's
'23 Nov 2026, 2:05 p.m.' beside hand-written '2026-11-23 14:05' strings."""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
TIME_FORMAT = "H:i"
