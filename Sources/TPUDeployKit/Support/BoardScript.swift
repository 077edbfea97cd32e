import Foundation

/// A shell script that tpudeploy runs on a board, shipped as a file (`Resources/board-scripts`). Values reach it
/// only as positional arguments (`$1`, `$2`, …), each quoted by `shellQuoted`, never pasted into its text: a
/// name holding `$(…)` stays a name.
public struct BoardScript: Sendable, Equatable {
    /// The file name, e.g. `service-stop.sh`.
    public let name: String
    public let text: String

    public init(name: String, text: String) {
        self.name = name
        self.text = text
    }

    /// Reads `Resources/board-scripts/NAME`.
    public static func named(_ name: String) throws -> BoardScript {
        let directory = try BoardScriptResources.directory()
        let url = directory.appendingPathComponent(name)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw BoardScriptError.missing(searched: [url.path])
        }
        return BoardScript(name: name, text: try includingShared(text, from: directory))
    }

    /// Replaces each line `# @include FILE` with that file of the same folder, so that a function two scripts
    /// need (editing rc.local under its lock) is written once and still travels in the one `sh -c` text.
    static func includingShared(_ text: String, from directory: URL) throws -> String {
        let marker = "# @include "
        guard text.contains(marker) else { return text }
        return try text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.hasPrefix(marker) else { return String(line) }
            let url = directory.appendingPathComponent(String(line.dropFirst(marker.count)))
            guard let included = try? String(contentsOf: url, encoding: .utf8) else {
                throw BoardScriptError.missing(searched: [url.path])
            }
            return included.hasSuffix("\n") ? String(included.dropLast()) : included
        }.joined(separator: "\n")
    }

    /// `sh -c SCRIPT NAME ARGUMENT…` for the board's login shell: the script and every argument one quoted word.
    public func commandLine(_ arguments: [String]) -> String {
        shellCommand(["sh", "-c", text, name] + arguments)
    }
}

/// Where the board scripts are: found through the one `ResourceLocator` order ($TPUDEPLOY_HOME, a checkout or the
/// resource bundle `swift build` puts beside the executable, the installed layout).
enum BoardScriptResources {
    static let bundleName = "tpudeploy_TPUDeployKit.resources"

    static func directory(locator: ResourceLocator = ResourceLocator()) throws -> URL {
        switch locator.locate(.boardScripts) {
        case .success(let found): return URL(fileURLWithPath: found.path)
        case .failure(let missing): throw BoardScriptError.missing(searched: missing.searched)
        }
    }
}

public enum BoardScriptError: Error, CustomStringConvertible, Sendable, Equatable {
    case missing(searched: [String])

    public var description: String {
        switch self {
        case .missing(let searched):
            return "tpudeploy's board scripts are missing (looked in \(searched.joined(separator: ", "))): reinstall tpudeploy (the .deb or `make install`), or set TPUDEPLOY_HOME to a folder holding board-scripts/ (a copy of Sources/TPUDeployKit/Resources/board-scripts)"
        }
    }
}

/// A board script with the arguments of one run.
public struct BoardScriptCall: Sendable, Equatable {
    public var script: BoardScript
    public var arguments: [String]

    public init(script: BoardScript, arguments: [String]) {
        self.script = script
        self.arguments = arguments
    }

    /// The command line for the board's login shell.
    public var commandLine: String { script.commandLine(arguments) }
}

extension BoardScriptError: CodedError {
    public var errorCode: String { "board_scripts_missing" }
}
