from ..common.service import main_entry
from .interfaces import UPDATE
from .service import build

if __name__ == "__main__":
    main_entry("update", UPDATE, build)
