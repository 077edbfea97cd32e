// Replaced by the engine's entry point.
int main() { return 0; }
