"""Board backends: simulated hardware, Linux GPIO/PWM/IIO, and a safety MCU over a serial port."""
