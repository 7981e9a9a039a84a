SUMMARY = "Open Charge Point Protocol (OCPP-J 1.6, 2.0.1, 2.1) for Python"
DESCRIPTION = "Python implementation of the JSON variant of OCPP (the ocpp package by \
               The Mobility House); used by the evcharge OCPP service. No other layer \
               provides it."
HOMEPAGE = "https://github.com/mobilityhouse/ocpp"
SECTION = "devel/python"
# Upstream: everything is MIT except the OCA documents in docs/v16 and docs/v201
# (CC BY-ND 4.0), which are not part of the sdist built here.
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSE;md5=357da596bd4bc9004894e2feaaa1e975"

SRC_URI[sha256sum] = "d29bfafb7161f75a78314f5cfd1b82fdf155082cd0f4de48c4dc8e5741422cf0"
# scarthgap has jsonschema 4.21.1 and poetry-core 1.9.0; ocpp 2.1.0 asks for >= 4.23 and
# >= 2.0 but works with both (reasons and check in the patch).
SRC_URI += "file://0001-pyproject.toml-accept-jsonschema-4.21-and-poetry-cor.patch"

# ocpp 2.1.0 builds with poetry-core (build-backend poetry.core.masonry.api).
inherit pypi python_poetry_core

RDEPENDS:${PN} = "\
    python3-asyncio \
    python3-core \
    python3-datetime \
    python3-json \
    python3-jsonschema \
    python3-logging \
"
