from evcharge.common import names
from evcharge.common.service import main_entry

from .service import build

if __name__ == "__main__":
    main_entry("auth", names.AUTH, build)
