import Foundation

/// One value of `--batch`: a number of boards or a share of the run's boards, as Ansible's `serial` takes.
public enum RolloutBatchSize: Sendable, Equatable, Codable, CustomStringConvertible {
    case boards(Int)
    case percent(Int)

    /// Boards in a batch of a run of `total` boards: a share is rounded down, but never below one board.
    public func boardCount(ofRun total: Int) -> Int {
        switch self {
        case .boards(let count): return count
        case .percent(let share): return max(1, share * total / 100)
        }
    }

    public var description: String {
        switch self {
        case .boards(let count): return String(count)
        case .percent(let share): return "\(share)%"
        }
    }

    /// In JSON as on the command line: `"5"` or `"20%"`.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let size = try Self.list(parsing: text).first, !text.contains(",") else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a batch size: \(text)"))
        }
        self = size
    }

    /// `--batch`: `5`, `20%`, or a list `1,5,20%` whose last value repeats.
    public static func list(parsing text: String) throws -> [RolloutBatchSize] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        return try items.map { item in
            func bad(_ problem: String) -> InventoryError { InventoryError(.badRolloutSetting, key: "--batch", "'\(text)': \(problem)") }
            if item.hasSuffix("%") {
                guard let share = Int(item.dropLast()), (1...100).contains(share) else {
                    throw bad("'\(item)' is not a share from 1% to 100%")
                }
                return .percent(share)
            }
            guard let count = Int(item), count >= 1 else {
                throw bad("'\(item)' is not a number of boards (1 or more) nor a share such as 20%; write a list as 1,5,20%")
            }
            return .boards(count)
        }
    }
}

/// `--max-fail PCT`: how many boards may fail over the whole run before no new board is started. As
/// Ansible's `max_fail_percentage`, the share must be *exceeded* — 10 boards at 20% allow 2 failures and stop
/// at the 3rd; 0% stops at the first — but it counts over the run, not per batch. Boards not reached count.
public struct FailureBudget: Sendable, Equatable, Codable {
    public var percent: Double
    /// Failures allowed: ⌊percent × boards / 100⌋.
    public var allowedFailures: Int

    public init(percent: Double, boards: Int) {
        self.percent = percent
        allowedFailures = Int((percent * Double(boards) / 100).rounded(.down))
    }

    /// `--max-fail`: `10` or `10%`, from 0 to 100.
    public static func percent(parsing text: String) throws -> Double {
        let number = text.hasSuffix("%") ? String(text.dropLast()) : text
        guard let value = Double(number), value.isFinite, (0...100).contains(value) else {
            throw InventoryError(.badRolloutSetting, key: "--max-fail", "'\(text)' is not a percentage from 0 to 100")
        }
        return value
    }

    /// Whether a run with `failures` failed boards so far may still start boards.
    public func allowsNewBoards(afterFailures failures: Int) -> Bool { failures <= allowedFailures }
}
