import Foundation

/// Why a profile could not be found or used.
public enum ProfileError: Error, CustomStringConvertible, Sendable, Equatable {
    case directoryNotFound(searched: [String])
    case unknownBoard(name: String, known: [String])
    case unknownModel(name: String, known: [String])
    case nameMismatch(file: String, name: String)
    case unknownPreset(board: String, preset: String, known: [String], file: String)

    public var description: String {
        switch self {
        case .directoryNotFound(let searched):
            return "cannot find the Profiles directory (looked in \(searched.joined(separator: ", "))). Set TPUDEPLOY_HOME or TPUDEPLOY_PROFILES, or pass --profiles DIR."
        case .unknownBoard(let name, let known):
            return "unknown board '\(name)'. Known boards: \(known.joined(separator: ", ")). A new board is a new file in Profiles/boards/."
        case .unknownModel(let name, let known):
            return "unknown model '\(name)'. Known models: \(known.joined(separator: ", ")). A new model is a new file in Profiles/models/."
        case .nameMismatch(let file, let name):
            return "\(file): name: '\(name)' must match the file name"
        case .unknownPreset(let board, let preset, let known, let file):
            return "board \(board) has no preset '\(preset)'; its presets are: \(known.joined(separator: ", ")) (\(file))"
        }
    }
}

/// The board and model profiles in one `Profiles/` directory.
public struct ProfileStore: Sendable {
    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    /// Finds `Profiles/` through the one `ResourceLocator` order: flag, $TPUDEPLOY_PROFILES, $TPUDEPLOY_HOME, a
    /// checkout, the installed layout.
    public static func locate(explicit: String? = nil, locator: ResourceLocator = ResourceLocator()) throws -> ProfileStore {
        switch locator.locate(.profiles, explicit: explicit) {
        case .success(let found): return ProfileStore(directory: URL(fileURLWithPath: found.path))
        case .failure(let missing): throw ProfileError.directoryNotFound(searched: missing.searched)
        }
    }

    private func names(in folder: String) -> [String] {
        let path = directory.appendingPathComponent(folder).path
        let files = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return files.filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
    }

    public var boardNames: [String] { names(in: "boards") }
    public var modelNames: [String] { names(in: "models") }

    public func board(named name: String) throws -> BoardProfile {
        guard boardNames.contains(name) else { throw ProfileError.unknownBoard(name: name, known: boardNames) }
        let file = directory.appendingPathComponent("boards/\(name).yaml").path
        let profile = try BoardProfile(mapping: YAMLMapping(contentsOf: file))
        guard profile.name == name else { throw ProfileError.nameMismatch(file: file, name: profile.name) }
        return profile
    }

    public func boards() throws -> [BoardProfile] { try boardNames.map { try board(named: $0) } }

    /// The board profile whose dtbs include `dtbFileName`, if any.
    public func board(booting dtbFileName: String) throws -> BoardProfile? {
        try boards().first { $0.boots(dtb: dtbFileName) }
    }

    public func model(named name: String) throws -> ModelProfile {
        guard modelNames.contains(name) else { throw ProfileError.unknownModel(name: name, known: modelNames) }
        let file = directory.appendingPathComponent("models/\(name).yaml").path
        let profile = try ModelProfile(mapping: YAMLMapping(contentsOf: file))
        guard profile.name == name else { throw ProfileError.nameMismatch(file: file, name: profile.name) }
        return profile
    }
}

extension ProfileError: CodedError {
    public var errorCode: String {
        switch self {
        case .directoryNotFound: return "profiles_not_found"
        case .unknownBoard: return "unknown_board_profile"
        case .unknownModel: return "unknown_model_profile"
        case .nameMismatch: return "profile_name_mismatch"
        case .unknownPreset: return "unknown_preset"
        }
    }
}
