/// A board command printed something tpudeploy cannot read.
public struct BoardOutputError: Error, CustomStringConvertible, Sendable, Equatable {
    public var source: String
    public var problem: String
    public var excerpt: String

    public init(source: String, problem: String, output: String) {
        self.source = source
        self.problem = problem
        self.excerpt = String(output.split(separator: "\n").first ?? "").prefix(80).description
    }

    public var description: String {
        let shown = excerpt.isEmpty ? "nothing" : "'\(excerpt)'"
        return "cannot read the output of \(source): \(problem) (it printed \(shown))"
    }
}

extension BoardOutputError: CodedError {
    public var errorCode: String { "board_output_malformed" }
}
