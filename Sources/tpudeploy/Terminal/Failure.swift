import ArgumentParser
import TPUDeployKit
import Foundation

/// Runs a command body and turns any error into one line on stderr (or, with --json, `{"code", "error"}`: the
/// error's stable code and its text) and a non-zero exit, instead of a stack of framework text.
func reportingFailures(json: Bool, _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch {
        let message = String(describing: error)
        if json {
            let object = ["error": message, "code": failureCode(error)]
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
                print(String(decoding: data, as: UTF8.self))
            }
        }
        FileHandle.standardError.write(Data("tpudeploy: error: \(message)\n".utf8))
        throw ExitCode(1)
    }
}

/// The stable code of a command's failure: the library error's own, `invalid_argument` for a flag the command
/// refused, else `ErrorCode.uncoded`.
func failureCode(_ error: Error) -> String {
    if error is ValidationError { return "invalid_argument" }
    return ErrorCode.of(error)
}

/// Whether standard output is a terminal (tables and colour) or a pipe (plain, parseable).
var standardOutputIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }
var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

/// Prints a Codable value as the project's JSON.
func printJSON<T: Encodable>(_ value: T) throws {
    print(try JSONOutput.text(value))
}
