from ..en_GB.formats import *  # noqa: F403  (the same formats when the locale is plain "en")
