# nooelint: oelint.var.mandatoryvar.HOMEPAGE - evcharge has no published project page yet; set HOMEPAGE when it has
SUMMARY = "evcharge board profile and device access rules for the MACHINE"
DESCRIPTION = "Installs the board profile the board service loads (which CP/PP, relay, \
               RCD, meter and MCU lines the board has, by name) and the udev rules that \
               give group evcharge-hw, and so only the board service user, access to \
               exactly those devices."
SECTION = "bsp"
LICENSE = "Apache-2.0"
# nooelint: oelint.var.licenseremotefile - board-support/ has no license file yet (repository is Apache-2.0)
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

# Profiles and rules live in the repository's board-support/ next to this layer
# (see python3-evcharge for why the monorepo is used as a local source).
# nooelint: oelint.vars.fileextrapaths,oelint.vars.outofcontext - sources come from the repository's board-support/ (monorepo)
FILESEXTRAPATHS:prepend := "${EVCHARGE_REPO_ROOT}/board-support:"

# MACHINE -> board comes from the distro (conf/distro/include/evcharge-<machine>.inc):
# qemux86-64 -> sim (or qemu-mcu), raspberrypi4-64 -> rpi4-cp-mcu (or rpi4-cp-gpio); set
# EVCHARGE_BOARD in local.conf to choose. A new board: its profile and rules under
# board-support/, and EVCHARGE_BOARD in its machine include.
SRC_URI = "\
    file://boards/${EVCHARGE_BOARD}.yaml \
    file://udev/70-evcharge-${EVCHARGE_BOARD}.rules \
    ${@'file://evcharge-board-%s.conf' % d.getVar('EVCHARGE_BOARD') if d.getVar('EVCHARGE_BOARD') in d.getVar('EVCHARGE_BOARDS_WITH_UNIT_DROPIN').split() else ''} \
"
# Boards whose backend needs more than the hardened evcharge-board.service allows get a
# drop-in from files/evcharge-board-<board>.conf (rpi4-cp-gpio: writable sysfs PWM).
EVCHARGE_BOARDS_WITH_UNIT_DROPIN = "rpi4-cp-gpio"
S = "${EVCHARGE_UNPACKDIR}"

COMPATIBLE_MACHINE = "^(qemux86-64|raspberrypi4-64)$"
PACKAGE_ARCH = "${MACHINE_ARCH}"

inherit useradd features_check

# EVCHARGE_BOARD comes from the evcharge distro; skipped with another distro.
REQUIRED_DISTRO_FEATURES = "evcharge"

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${datadir}/evcharge/boards ${D}${nonarch_base_libdir}/udev/rules.d
    install -m 0644 ${S}/boards/${EVCHARGE_BOARD}.yaml ${D}${datadir}/evcharge/boards/
    # The board service loads default.yaml unless /etc/evcharge/board.yaml names a profile.
    ln -sf ${EVCHARGE_BOARD}.yaml ${D}${datadir}/evcharge/boards/default.yaml
    install -m 0644 ${S}/udev/70-evcharge-${EVCHARGE_BOARD}.rules ${D}${nonarch_base_libdir}/udev/rules.d/
    if [ -f ${S}/evcharge-board-${EVCHARGE_BOARD}.conf ]; then
        install -d ${D}${systemd_system_unitdir}/evcharge-board.service.d
        install -m 0644 ${S}/evcharge-board-${EVCHARGE_BOARD}.conf \
            ${D}${systemd_system_unitdir}/evcharge-board.service.d/50-evcharge-board-${EVCHARGE_BOARD}.conf
    fi
}

FILES:${PN} += "\
    ${datadir}/evcharge/boards \
    ${nonarch_base_libdir}/udev/rules.d/70-evcharge-${EVCHARGE_BOARD}.rules \
    ${systemd_system_unitdir}/evcharge-board.service.d \
"

# The group the rules hand the devices to; python3-evcharge-board puts its user in it.
USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system evcharge-hw"
