# A/B boot selection for RAUC (bootloader=uboot): our boot.cmd.in replaces
# meta-raspberrypi's, only for the evcharge distro (override) with DISTRO_FEATURES "rauc".
FILESEXTRAPATHS:prepend:evcharge := "${@bb.utils.contains('DISTRO_FEATURES', 'rauc', '${THISDIR}/files:', '', d)}"
