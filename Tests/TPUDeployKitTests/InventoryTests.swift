import Foundation
import Testing
@testable import TPUDeployKit

/// Inventories under Tests/Fixtures/inventory.
enum InventoryFixture {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/inventory")

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static func load(_ name: String) async throws -> Inventory { try await InventoryLoader().load(path(name)) }
}

@Suite("Ansible inventories")
struct InventoryTests {
    static let labHosts = ["gateway.lab", "evb01", "evb02", "evb03", "evb04", "evb05", "se7-a.lab", "se7-b.lab", "se7-c.lab", "se7-x.lab",
                           "node1", "node5", "node9"]

    @Test(arguments: ["lab.ini", "lab.yml"])
    func rangesExpandInInventoryOrder(file: String) async throws {
        let inventory = try await InventoryFixture.load(file)
        #expect(inventory.hostNames == Self.labHosts)
        #expect(inventory.hosts(in: "evb") == ["evb01", "evb02", "evb03", "evb04", "evb05"])
        #expect(inventory.hosts(in: "odd") == ["node1", "node5", "node9"])
        // A parent group holds its children's hosts; `ungrouped` only what no group names.
        #expect(inventory.hosts(in: "lab") == ["evb01", "evb02", "evb03", "evb04", "evb05", "se7-a.lab", "se7-b.lab", "se7-c.lab", "se7-x.lab"])
        #expect(inventory.hosts(in: "ungrouped") == ["gateway.lab"])
        #expect(inventory.hosts(in: "all") == Self.labHosts)
        #expect(inventory.groupsContaining("evb02") == ["all", "lab", "evb"])
        #expect(inventory.warnings.isEmpty)
    }

    @Test(arguments: ["lab.ini", "lab.yml"])
    func variablesFollowAnsiblePrecedence(file: String) async throws {
        let inventory = try await InventoryFixture.load(file)
        let boards = try inventory.boards(inventory.hostNames, defaults: FleetDefaults(knownHosts: "/kh", sshConfig: "none", connectTimeout: 4))
        func board(_ name: String) throws -> FleetBoard { try #require(boards.first { $0.name == name }) }
        // host var (linaro) over child group (evb) over parent group (lab: root) over all (admin)
        #expect(try board("evb01").target.user == "linaro")
        #expect(try board("evb01").deployment == "llama")
        #expect(try board("evb01").boardProfile == "1684x_evb")
        #expect(try board("evb01").target.host == "evb01")
        #expect(try board("evb01").target.knownHostsFile == "/kh")
        #expect(try board("evb01").target.connectTimeout == 4)
        // host:port shorthand; the parent group's user
        #expect(try board("evb05").target.port == 2222)
        #expect(try board("evb05").target.user == "root")
        #expect(try board("se7-a.lab").boardProfile == "se7")
        #expect(try board("se7-a.lab").deployment == "chatglm2")
        #expect(try board("se7-a.lab").target.identityFile == "/keys/se7 key")
        #expect(try board("se7-x.lab").target.port == 2200)
        #expect(try board("se7-x.lab").boardProfile == "1684x_evb")
        #expect(inventory.variables(of: "se7-x.lab")["note"]?.text == "two words")
        // only `all` applies to an ungrouped host and to a group outside lab
        #expect(try board("gateway.lab").target.host == "192.0.2.1")
        #expect(try board("gateway.lab").target.user == "admin")
        #expect(try board("node5").deployment == "qwen")
        #expect(try board("node5").boardProfile == nil)
    }

    @Test func iniAndYAMLGiveTheSameBoards() async throws {
        let ini = try await InventoryFixture.load("lab.ini")
        let yaml = try await InventoryFixture.load("lab.yml")
        #expect(try ini.boards(ini.hostNames, defaults: FleetDefaults()) == yaml.boards(yaml.hostNames, defaults: FleetDefaults()))
    }

    @Test func theProjectFileFillsWhatTheInventoryLeavesOut() throws {
        let inventory = try InventoryLoader.parse("[sim]\nevb1 ansible_host=198.18.0.11\nevb2 ansible_host=198.18.0.12 ansible_user=linaro\n", file: "sim.ini")
        let config = ProjectConfig(
            target: TargetSettings(host: "198.18.0.11", port: 2022, user: "root", identity: "/sim/key", knownHosts: "/sim/known_hosts", sshConfig: "none"),
            deployment: DeploymentSettings(name: "chatglm2", bmodel: "m.bmodel", tokenizer: "t.model", remoteDir: "/data/llm/chatglm2"), file: "tpudeploy.yaml")
        let defaults = FleetDefaults(config: config, user: nil, identity: nil, knownHosts: nil, sshConfig: nil, connectTimeout: 10,
                                     acceptNewHostKey: false, deployment: nil)
        let boards = try inventory.boards(inventory.hostNames, defaults: defaults)
        #expect(boards.map(\.target.user) == ["root", "linaro"])
        #expect(boards.allSatisfy { $0.target.identityFile == "/sim/key" && $0.target.knownHostsFile == "/sim/known_hosts" && $0.target.sshConfigFile == "none" })
        // The file's port and host belong to its one board, never to the fleet's.
        #expect(boards.map(\.target.port) == [nil, nil])
        #expect(boards.map(\.target.host) == ["198.18.0.11", "198.18.0.12"])
        #expect(boards.map(\.deployment) == ["chatglm2", "chatglm2"])
        #expect(boards.map(\.deploymentDirectory) == ["/data/llm/chatglm2", "/data/llm/chatglm2"])
        // A flag wins over the file; the inventory wins over both.
        let flagged = FleetDefaults(config: config, user: "ops", identity: nil, knownHosts: nil, sshConfig: nil, connectTimeout: 10,
                                    acceptNewHostKey: true, deployment: "qwen")
        let again = try inventory.boards(inventory.hostNames, defaults: flagged)
        #expect(again.map(\.target.user) == ["ops", "linaro"])
        #expect(again.map(\.deployment) == ["qwen", "qwen"])
        // Another deployment than the project's lives where push puts it by default.
        #expect(again.map(\.deploymentDirectory) == ["/data/tpudeploy/qwen", "/data/tpudeploy/qwen"])
        #expect(again.allSatisfy { $0.target.acceptNewHostKey })
    }

    /// The project file's ssh_config is read without what runs commands for a fleet as for one board; the same
    /// file by flag, or the user's own, is honoured in full.
    @Test func aProjectFilesSSHConfigIsMarkedForTheFleetToo() throws {
        let inventory = try InventoryLoader.parse("[sim]\nevb1 ansible_host=198.18.0.11\n", file: "sim.ini")
        let config = ProjectConfig(target: TargetSettings(host: "198.18.0.11", sshConfig: "./cloned-ssh-config"), file: "/src/cloned/tpudeploy.yaml")
        func namedBy(flag: String?) throws -> String? {
            let defaults = FleetDefaults(config: config, user: nil, identity: nil, knownHosts: nil, sshConfig: flag, connectTimeout: 10,
                                         acceptNewHostKey: false, deployment: nil)
            return try inventory.boards(inventory.hostNames, defaults: defaults)[0].target.sshConfigNamedBy
        }
        #expect(try namedBy(flag: nil) == "/src/cloned/tpudeploy.yaml")
        #expect(try namedBy(flag: "./cloned-ssh-config") == nil)
    }

    /// Addresses and deployment names are checked where the inventory is read, as --host and --name are.
    @Test func hostileAddressesAndDeploymentNamesAreRefusedNamingTheKey() throws {
        for (text, key) in [("evb1 ansible_host='-oProxyCommand=touch /tmp/x'", "evb1.ansible_host"),
                            ("evb1 ansible_ssh_host='a b'", "evb1.ansible_ssh_host"),
                            ("evb1 tpudeploy_deployment='$(touch /tmp/x)'", "evb1.tpudeploy_deployment"),
                            ("evb1 tpudeploy_deployment='../etc'", "evb1.tpudeploy_deployment")] {
            let inventory = try InventoryLoader.parse("[lab]\n\(text)\n", file: "h.ini")
            let error = try #require(throws: InventoryError.self) { try inventory.boards(["evb1"], defaults: FleetDefaults()) }
            #expect(error.code == .badVariable)
            #expect(error.key == key, "\(error)")
            #expect(error.line == 2, "\(error)")
        }
        // A host named without ansible_host is its own address: the same rule.
        let bare = try InventoryLoader.parse("all:\n  hosts:\n    \"-oProxyCommand=x\":\n", file: "h.yml")
        #expect(throws: InventoryError.self) { try bare.boards(bare.hostNames, defaults: FleetDefaults()) }
        // --deployment is checked as --name is.
        let plain = try InventoryLoader.parse("[lab]\nevb1 ansible_host=192.0.2.1\n", file: "p.ini")
        #expect(throws: BoardNameError.self) { try plain.boards(["evb1"], defaults: FleetDefaults(deployment: "x;reboot")) }
        #expect(try plain.boards(["evb1"], defaults: FleetDefaults(deployment: "llama2-7b"))[0].deploymentDirectory == "/data/tpudeploy/llama2-7b")
    }

    @Test func inlineValuesArePythonLiteralsAndVarsSectionsText() throws {
        let inventory = try InventoryLoader.parse("""
            h1 a=5 b=True c=None d=1.5 e="hello world" f='7' g=x=y
            [g]
            h1
            [g:vars]
            n=5
            q="quoted"
            """, file: "values.ini")
        let host = inventory.ownVariables(of: "h1")
        #expect(host["a"] == .int(5))
        #expect(host["b"] == .bool(true))
        #expect(host["c"] == .null)
        #expect(host["d"] == .double(1.5))
        #expect(host["e"] == .string("hello world"))
        #expect(host["f"] == .int(7))
        #expect(host["g"] == .string("x=y"))
        #expect(inventory.groups["g"]?.variables["n"] == .string("5"))
        #expect(inventory.groups["g"]?.variables["q"] == .string("quoted"))
        // A host listed before any section and in a group is not ungrouped.
        #expect(inventory.hosts(in: "ungrouped").isEmpty)
    }

    @Test func groupPriorityAndDepthOrderTheMerge() throws {
        let inventory = try InventoryLoader.parse("""
            [a]
            h
            [b]
            h
            [a:vars]
            x=from-a
            [b:vars]
            x=from-b
            [c:children]
            a
            [c:vars]
            x=from-c
            """, file: "priority.ini")
        // b and a... a is deeper (c → a) so a wins over b, whose depth is 1.
        #expect(inventory.variables(of: "h")["x"] == .string("from-a"))
        let sameDepth = try InventoryLoader.parse("[a]\nh\n[b]\nh\n[a:vars]\nx=from-a\nansible_group_priority=5\n[b:vars]\nx=from-b\n", file: "p.ini")
        // Equal depth: higher priority merges last and wins, else the name decides (b after a).
        #expect(sameDepth.variables(of: "h")["x"] == .string("from-a"))
        let byName = try InventoryLoader.parse("[a]\nh\n[b]\nh\n[a:vars]\nx=from-a\n[b:vars]\nx=from-b\n", file: "n.ini")
        #expect(byName.variables(of: "h")["x"] == .string("from-b"))
    }

    @Test func rangesKeepWidthTakeStridesAndLetters() throws {
        #expect(try InventoryHostPattern("evb[01:12:5]").names == ["evb01", "evb06", "evb11"])
        #expect(try InventoryHostPattern("evb[8:10]").names == ["evb8", "evb9", "evb10"])
        #expect(try InventoryHostPattern("r[1:2]-[a:b].lab").names == ["r1-a.lab", "r1-b.lab", "r2-a.lab", "r2-b.lab"])
        #expect(try InventoryHostPattern("db-[:2]").names == ["db-0", "db-1", "db-2"])
        #expect(try InventoryHostPattern("evb07:2222").port == 2222)
        let ranged = try InventoryHostPattern("evb[01:03]:2222")
        #expect(ranged.names == ["evb01", "evb02", "evb03"] && ranged.port == 2222)
        #expect(try InventoryHostPattern("fe80::1").names == ["fe80::1"])
        #expect(throws: InventoryError.self) { try InventoryHostPattern("evb[5:1]") }
        #expect(throws: InventoryError.self) { try InventoryHostPattern("evb[01:5]") }
        #expect(throws: InventoryError.self) { try InventoryHostPattern("evb[1:5") }
        #expect(throws: InventoryError.self) { try InventoryHostPattern("evb[1:5:0]") }
        #expect(throws: InventoryError.self) { try InventoryHostPattern("evb:99999") }
    }

    @Test(arguments: [
        ("bad-vars-section.ini", InventoryError.Code.syntax, 4, "[evbs:vars]"),
        ("bad-host-variable.ini", .syntax, 3, "evb02"),
        ("bad-range.ini", .badRange, 2, "evb[01:5]"),
        ("bad-hosts-list.yml", .syntax, 5, "evb.hosts"),
    ])
    func errorsNameTheFileLineAndKey(file: String, code: InventoryError.Code, line: Int, key: String) async throws {
        let error = try await #require(throws: InventoryError.self) { try await InventoryFixture.load(file) }
        #expect(error.code == code)
        #expect(error.line == line)
        #expect(error.key == key)
        #expect(error.description.hasPrefix(InventoryFixture.path(file) + ":\(line): \(key): "))
    }

    @Test func templatesAndBadPortsAreRefusedNamingTheHostAndKey() async throws {
        let inventory = try await InventoryFixture.load("jinja.ini")
        let error = try #require(throws: InventoryError.self) { try inventory.boards(["evb01"], defaults: FleetDefaults()) }
        #expect(error.code == .badVariable)
        #expect(error.key == "evb01.ansible_host")
        #expect(error.line == 2)
        #expect(error.description.contains("Jinja"))
        let ports = try InventoryLoader.parse("[lab]\nevb01 ansible_port=ssh\n", file: "p.ini")
        let portError = try #require(throws: InventoryError.self) { try ports.boards(["evb01"], defaults: FleetDefaults()) }
        #expect(portError.description == "p.ini:2: evb01.ansible_port: 'ssh' is not a TCP port (1-65535)")
        let yaml = try InventoryLoader.parse("all:\n  hosts:\n    evb01:\n      ansible_port: 70000\n", file: "p.yml")
        let yamlError = try #require(throws: InventoryError.self) { try yaml.boards(["evb01"], defaults: FleetDefaults()) }
        #expect(yamlError.description == "p.yml:4: evb01.ansible_port: '70000' is not a TCP port (1-65535)")
        // A group's bad value: the line of the group variable that wins for this host.
        let group = try InventoryLoader.parse("[lab]\nevb01\n[all:vars]\nansible_port=22\n[lab:vars]\nansible_port=x\n", file: "g.ini")
        let groupError = try #require(throws: InventoryError.self) { try group.boards(["evb01"], defaults: FleetDefaults()) }
        #expect(groupError.description == "g.ini:6: evb01.ansible_port: 'x' is not a TCP port (1-65535)")
    }

    @Test func aChildCycleIsRefused() throws {
        let error = try #require(throws: InventoryError.self) {
            try InventoryLoader.parse("[a:children]\nb\n[b:children]\na\n", file: "cycle.ini")
        }
        #expect(error.line == 4)
        #expect(error.description.contains("its own ancestor"))
    }

    @Test func yamlUnknownGroupKeysWarnAsAnsibleDoes() throws {
        let inventory = try InventoryLoader.parse("all:\n  hosts:\n    h1:\n  host:\n    h2:\n", file: "typo.yml")
        #expect(inventory.hostNames == ["h1"])
        #expect(inventory.warnings == ["typo.yml:4: all.host: skipped; a group has only hosts, vars and children"])
    }
}

@Suite("executable inventories")
struct ScriptInventoryTests {
    @Test func listWithMetaIsReadInOneCall() async throws {
        let inventory = try await InventoryFixture.load("dynamic-with-meta.sh")
        #expect(inventory.hostNames.sorted() == ["evb01", "evb02", "se7-a"])
        #expect(Set(inventory.hosts(in: "lab")) == ["evb01", "evb02", "se7-a"])
        let boards = try inventory.boards(inventory.hostNames.sorted(), defaults: FleetDefaults())
        #expect(boards.map(\.target.host) == ["192.0.2.11", "192.0.2.12", "192.0.2.21"])
        #expect(boards.map(\.target.user) == ["root", "root", "root"])
        #expect(boards.map(\.boardProfile) == ["1684x_evb", "1684x_evb", "se7"])
        #expect(boards.map(\.deployment) == ["llama", "llama", nil])
    }

    @Test func withoutMetaEachHostIsAsked() async throws {
        let inventory = try await InventoryFixture.load("dynamic-without-meta.sh")
        let boards = try inventory.boards(inventory.hostNames, defaults: FleetDefaults())
        #expect(boards.map(\.target.host) == ["192.0.2.1", "192.0.2.2"])
        #expect(boards.map(\.target.user) == ["root", "root"])
    }

    @Test func aFailingScriptSaysWhy() async throws {
        let error = try await #require(throws: InventoryError.self) { try await InventoryFixture.load("dynamic-broken.sh") }
        #expect(error.code == .scriptFailed)
        #expect(error.description.contains("exited with status 3: cloud API token expired"))
    }

    @Test func aScriptThatHangsIsStoppedAtItsDeadline() async throws {
        var loader = InventoryLoader()
        loader.listTimeout = 1
        let error = try await #require(throws: InventoryError.self) { try await loader.load(InventoryFixture.path("dynamic-hangs.sh")) }
        #expect(error.code == .scriptFailed)
        #expect(error.description.contains("did not finish within 1 s"))
    }

    @Test func jsonThatIsNotAnInventoryIsRefused() throws {
        #expect(throws: InventoryError.self) { try ScriptInventoryJSON.parse(list: Data("[1,2]".utf8), source: "s") }
        #expect(throws: InventoryError.self) { try ScriptInventoryJSON.parse(list: Data("{\"g\": {\"hosts\": \"h1\"}}".utf8), source: "s") }
        #expect(throws: InventoryError.self) { try ScriptInventoryJSON.parse(list: Data("Traceback".utf8), source: "s") }
    }
}
