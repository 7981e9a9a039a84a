# Simulated board I/O for the evcharge build on qemux86-64 (board profile "sim"). Only for
# the evcharge distro (override) on that machine: adding meta-evcharge to another build
# changes no kernel.
FILESEXTRAPATHS:prepend:evcharge := "${THISDIR}/files:"

SRC_URI:append:evcharge:qemux86-64 = " file://evcharge-sim.cfg"
