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
        return BoardScript(name: name, text: text)
    }

    /// `sh -c SCRIPT NAME ARGUMENT…` for the board's login shell: the script and every argument one quoted word.
    public func commandLine(_ arguments: [String]) -> String {
        shellCommand(["sh", "-c", text, name] + arguments)
    }
}

/// Where the board scripts are: the kit's resource bundle beside the executable (or test bundle), a system-wide
/// copy, or the source checkout the executable was built from.
enum BoardScriptResources {
    static let bundleName = "tpudeploy_TPUDeployKit.resources"

    static func candidates() -> [URL] {
        var folders: [URL] = []
        if let main = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent() { folders.append(main) }
        if let first = CommandLine.arguments.first, !first.isEmpty {
            folders.append(URL(fileURLWithPath: first).resolvingSymlinksInPath().deletingLastPathComponent())
        }
        var found: [URL] = []
        for folder in folders {
            let bundle = folder.appendingPathComponent(bundleName)
            found.append(bundle.appendingPathComponent("board-scripts"))
            found.append(bundle.appendingPathComponent("Resources/board-scripts"))
        }
        found.append(URL(fileURLWithPath: "/usr/local/share/tpudeploy/board-scripts"))
        // A build run from its checkout (swift run, or a symlink into .build) still has its sources.
        found.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Resources/board-scripts"))
        return found
    }

    static func directory() throws -> URL {
        let all = candidates()
        guard let found = all.first(where: { FileManager.default.fileExists(atPath: $0.appendingPathComponent("service-status.sh").path) }) else {
            throw BoardScriptError.missing(searched: all.map(\.path))
        }
        return found
    }
}

public enum BoardScriptError: Error, CustomStringConvertible, Sendable, Equatable {
    case missing(searched: [String])

    public var description: String {
        switch self {
        case .missing(let searched):
            return "tpudeploy's board scripts are missing (looked in \(searched.joined(separator: ", "))): install tpudeploy with the \(BoardScriptResources.bundleName) folder that `swift build` puts beside it, or copy Sources/TPUDeployKit/Resources/board-scripts to /usr/local/share/tpudeploy/board-scripts"
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
