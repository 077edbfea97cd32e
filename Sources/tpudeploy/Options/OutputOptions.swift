import ArgumentParser

/// `--json`, shared by every command.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print one JSON document (schemas in docs/json-schemas.md) instead of a table.")
    var json = false
}
