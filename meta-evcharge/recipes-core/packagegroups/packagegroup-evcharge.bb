SUMMARY = "evcharge charger services and what they need on the target"
SUMMARY:${PN}-sim = "evcharge simulators, SIL runner and libraries for OCPP work"
DESCRIPTION = "Package groups for evcharge images: packagegroup-evcharge has the \
               production services with the update stack, packagegroup-evcharge-sim the \
               simulators for development and tests."
SECTION = "base"
LICENSE = "MIT"

# The groups differ per MACHINE (bootloader helper for RAUC), so they are machine-specific.
PACKAGE_ARCH = "${MACHINE_ARCH}"

inherit packagegroup features_check

# Needs the evcharge distro (boot helper per machine, board profile); skipped with another.
REQUIRED_DISTRO_FEATURES = "evcharge"
EVCHARGE_BOOTENV_TOOL ??= ""

PACKAGES = "${PN} ${PN}-sim"

# dbus: the system bus the services talk over. kernel-image: the kernel lives in the slot.
# EVCHARGE_BOOTENV_TOOL: how RAUC switches slots on this MACHINE (grub-editenv, fw_setenv),
# set by conf/distro/include/evcharge-<machine>.inc.
RDEPENDS:${PN} = "\
    ${EVCHARGE_BOOTENV_TOOL} \
    dbus \
    evcharge-partitions \
    kernel-image \
    python3-evcharge-auth \
    python3-evcharge-board \
    python3-evcharge-cli \
    python3-evcharge-energy \
    python3-evcharge-evse \
    python3-evcharge-exi \
    python3-evcharge-meter \
    python3-evcharge-ocpp \
    rauc \
    rauc-service \
"

# python3-evcharge-v2g / -power: no unit runs them yet; the development image carries them so
# that work runs against the target's Python and EXI codec from day one. They move to ${PN}
# with their units.
RDEPENDS:${PN}-sim = "\
    ${PN} \
    python3-evcharge-power \
    python3-evcharge-sim \
    python3-evcharge-v2g \
"
