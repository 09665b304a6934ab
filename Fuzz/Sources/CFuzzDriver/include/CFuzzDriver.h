// libFuzzer's entry point for programs that keep their own main (SwiftPM gives every executable
// target one): each fuzz target's main calls it with its test function.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*test)(const uint8_t *data, size_t size));
