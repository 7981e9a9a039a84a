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
EVCHARGE_HLC_PACKAGES = "${@bb.utils.contains('DISTRO_FEATURES', 'evcharge-hlc', \
                          'python3-evcharge-power python3-evcharge-slac python3-evcharge-v2g', '', d)}"
RDEPENDS:${PN} = "\
    ${EVCHARGE_BOOTENV_TOOL} \
    ${EVCHARGE_HLC_PACKAGES} \
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
    python3-evcharge-update \
    rauc \
    rauc-service \
"

# The high-level communication services (v2g, slac, power) run on chargers with a PLC modem:
# DISTRO_FEATURES evcharge-hlc (kas/opt/hlc.yml) adds them to ${PN} with their units enabled.
# The development image always carries them, units disabled without the feature, for SIL runs
# (evcharge-sil --hlc) against the target's Python and EXI codec.
RDEPENDS:${PN}-sim = "\
    ${PN} \
    python3-evcharge-power \
    python3-evcharge-sim \
    python3-evcharge-slac \
    python3-evcharge-v2g \
"
