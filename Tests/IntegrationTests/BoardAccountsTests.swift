import Foundation
import Testing
@testable import TPUDeploySimulator

/// A simulated board keeps its own accounts: written once from a fixed list, never copied from the host.
@Suite struct BoardAccountsTests {
    private func names(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { $0.split(separator: ":", omittingEmptySubsequences: false).first.map(String.init) }
    }

    @Test func theBoardsPasswdIsItsOwnNotTheHosts() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tpudeploy-accounts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("etc"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try BoardFilesystem(directory: directory).writeAccounts()

        let passwd = try String(contentsOf: directory.appendingPathComponent("etc/passwd"), encoding: .utf8)
        let group = try String(contentsOf: directory.appendingPathComponent("etc/group"), encoding: .utf8)
        let shadow = try String(contentsOf: directory.appendingPathComponent("etc/shadow"), encoding: .utf8)
        // What sshd (privilege separation), sudo and the engine service need.
        for user in ["root", "sshd", "nobody", "linaro"] { #expect(names(passwd).contains(user), "no \(user) on the board") }
        #expect(passwd.contains("linaro:x:1000:1000:linaro:/home/linaro:/bin/bash\n"))
        #expect(group.contains("\nsudo:x:27:linaro\n"))
        #expect(shadow.contains("\nlinaro:$6$"))
        #expect(Set(names(shadow)) == Set(names(passwd)))

        // Every account the host has and the board's fixed list lacks (a database's system user, the host's
        // own login user…) stays off the board.
        let host = (try? String(contentsOfFile: "/etc/passwd", encoding: .utf8)) ?? ""
        let board = Set(BoardAccounts.users.map(\.name))
        for name in names(host) where !board.contains(name) {
            #expect(!names(passwd).contains(name), "the board took the host's account \(name)")
        }
        #expect(passwd == BoardAccounts.passwd)
        // The list itself: one entry per name and per uid.
        #expect(Set(BoardAccounts.users.map(\.uid)).count == BoardAccounts.users.count)
        #expect(Set(BoardAccounts.groups.map(\.0)).count == BoardAccounts.groups.count)
    }
}
