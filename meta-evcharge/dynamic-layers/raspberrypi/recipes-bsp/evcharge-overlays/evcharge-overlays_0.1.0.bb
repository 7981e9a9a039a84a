# nooelint: oelint.var.mandatoryvar.HOMEPAGE - evcharge has no published project page yet; set HOMEPAGE when it has
SUMMARY = "Device tree overlays for evcharge boards on the Raspberry Pi"
DESCRIPTION = "Builds board-support/overlays/*.dts into .dtbo files and deploys them; \
               the evcharge distro puts the one of EVCHARGE_BOARD in the boot partition's \
               overlays/ directory."
SECTION = "bsp"
LICENSE = "Apache-2.0"
# nooelint: oelint.var.licenseremotefile - board-support/ has no license file yet; the .dts carries an SPDX tag
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

# Sources are the repository's board-support/overlays (see python3-evcharge for the monorepo).
# nooelint: oelint.vars.fileextrapaths,oelint.vars.outofcontext - sources come from the repository's board-support/ (monorepo)
FILESEXTRAPATHS:prepend := "${EVCHARGE_REPO_ROOT}/board-support:"
SRC_URI = "\
    file://overlays/evcharge-rpi4-cp-gpio.dts \
    file://overlays/evcharge-rpi4-cp-mcu.dts \
"
S = "${EVCHARGE_UNPACKDIR}/overlays"

COMPATIBLE_MACHINE = "^rpi$"

inherit devicetree
