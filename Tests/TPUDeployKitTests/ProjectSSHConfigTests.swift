import Foundation
import Testing
@testable import TPUDeployKit

/// A configuration a project file names is read without what runs commands on this machine; the user's own is
/// read as it is.
@Suite struct ProjectSSHConfigTests {
    private func filtered(_ text: String) -> ProjectSSHConfig { ProjectSSHConfig(bytes: Array(text.utf8)) }

    @Test func everyDirectiveThatRunsACommandIsRemovedInAnySpelling() {
        let config = filtered("""
            Host evb
              HostName 192.0.2.10
              ProxyCommand touch /tmp/marker
              proxyjump=jump@host
              "LocalCommand" touch /tmp/marker
            \tPermitLocalCommand yes
              KNOWNHOSTSCOMMAND /bin/true
            Include ~/.ssh/evil
            ProxyCommand\r
              User linaro
            """)
        #expect(config.ignored.map(\.directive) == ["ProxyCommand", "ProxyJump", "LocalCommand", "PermitLocalCommand",
                                                     "KnownHostsCommand", "Include", "ProxyCommand"])
        #expect(config.ignored.map(\.line) == [3, 4, 5, 6, 7, 8, 9])
        let lines = config.text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 10, "line numbers stay those of the file")
        #expect(lines[1] == "  HostName 192.0.2.10")
        #expect(lines[9] == "  User linaro")
        #expect(!config.text.lowercased().contains("touch"))
        #expect(!config.text.lowercased().contains("jump@"))
    }

    @Test func aMatchExecBlockNeverApplies() {
        let config = filtered("Host *\n  Port 22\nMatch host evb !exec \"touch /tmp/marker\"\n  ProxyCommand nc %h %p\n  User x\n")
        #expect(config.ignored.map(\.directive) == ["Match exec", "ProxyCommand"])
        #expect(config.text == "Host *\n  Port 22\nMatch !all\n# removed by tpudeploy: ProxyCommand\n  User x\n")
    }

    /// libssh reads 1023 bytes at a time: the rest of a longer line would be read as a line of its own.
    @Test func aLineLibsshWouldCutIsRemovedWhole() {
        let long = "# " + String(repeating: "x", count: 1021) + "ProxyCommand touch /tmp/marker"
        let config = filtered("Host evb\n\(long)\nHostName 192.0.2.10\n")
        #expect(config.ignored.map(\.line) == [2])
        #expect(!config.text.contains("ProxyCommand"))
        #expect(config.text.hasSuffix("HostName 192.0.2.10\n"))
        let nul = ProjectSSHConfig(bytes: Array("Host evb\0\nHostName a\n".utf8))
        #expect(nul.ignored.map(\.line) == [1])
    }

    @Test func harmlessDirectivesStayAsWritten() {
        let text = "Host evb\n  HostName 192.0.2.10\n  Port 2222\n  User linaro\n  IdentityFile ~/.ssh/evb\n  # ProxyCommand in a comment\n"
        let config = filtered(text)
        #expect(config.ignored.isEmpty)
        #expect(config.text == text)
    }

    @Test func theWarningNamesTheFileTheDirectiveAndTheFlag() {
        let warnings = filtered("Host *\n  ProxyCommand touch /tmp/m\n").warnings(path: "./evil_config", projectFile: "tpudeploy.yaml")
        #expect(warnings == ["ignoring ProxyCommand on line 2 of ./evil_config (named by tpudeploy.yaml): a project file may not run commands on this machine; if you trust ./evil_config, pass it with --ssh-config ./evil_config"])
    }
}

@Suite struct TargetResolutionTests {
    private let config = ProjectConfig(target: TargetSettings(host: "192.0.2.10", sshConfig: "./project_ssh_config"), file: "tpudeploy.yaml")

    @Test func aConfigNamedByTheProjectFileIsMarkedSoButNotOneFromTheFlag() throws {
        let fromProject = try TargetOverrides().resolve(with: config, configPath: "tpudeploy.yaml").target
        #expect(fromProject.sshConfigFile == "./project_ssh_config")
        #expect(fromProject.sshConfigNamedBy == "tpudeploy.yaml")
        let fromFlag = try TargetOverrides(sshConfig: "./project_ssh_config").resolve(with: config, configPath: "tpudeploy.yaml").target
        #expect(fromFlag.sshConfigNamedBy == nil)
        let none = ProjectConfig(target: TargetSettings(host: "a", sshConfig: "none"), file: "t.yaml")
        #expect(try TargetOverrides().resolve(with: none, configPath: "t.yaml").target.sshConfigNamedBy == nil)
    }

    @Test func theUsersOwnConfigIsTheirsWhoeverNamesIt() throws {
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        let own = ProjectConfig(target: TargetSettings(host: "a", sshConfig: home + "/.ssh/config"), file: "t.yaml")
        #expect(try TargetOverrides().resolve(with: own, configPath: "t.yaml").target.sshConfigNamedBy == nil)
        let tilde = ProjectConfig(target: TargetSettings(host: "a", sshConfig: "~/.ssh/config"), file: "t.yaml")
        #expect(try TargetOverrides().resolve(with: tilde, configPath: "t.yaml").target.sshConfigNamedBy == nil)
    }

    @Test func anEmptyHostSaysWhereItCameFromAndWhatToWrite() {
        #expect(throws: TargetError.emptyHost(source: "--host")) { try TargetOverrides(host: "").resolve(with: nil, configPath: "t.yaml") }
        let empty = ProjectConfig(target: TargetSettings(host: " "), file: "t.yaml")
        #expect(throws: TargetError.emptyHost(source: "t.yaml")) { try TargetOverrides().resolve(with: empty, configPath: "t.yaml") }
        #expect(TargetError.emptyHost(source: "--host").description.contains("--host 192.0.2.10"))
        #expect(TargetError.emptyHost(source: "t.yaml").description.contains("host: 192.0.2.10"))
    }

    /// A login user is refused where it is read, saying which one and what to give, not by libssh's words.
    @Test func aUserThatIsNoUserNameIsRefused() throws {
        for user in ["", "root$(touch /tmp/x)", "-oProxyCommand=x", "a b", "`id`"] {
            #expect(throws: TargetError.self) { try TargetOverrides(host: "192.0.2.10", user: user).resolve(with: nil, configPath: "t.yaml") }
        }
        let hostile = ProjectConfig(target: TargetSettings(host: "a", user: "x;id"), file: "t.yaml")
        #expect(throws: TargetError.invalidUser("x;id", source: "t.yaml", problem: BoardNames.userProblem("x;id") ?? "")) {
            try TargetOverrides().resolve(with: hostile, configPath: "t.yaml")
        }
        #expect(TargetError.invalidUser("", source: "--user", problem: "p").description.contains("such as root or linaro"))
        for user in ["root", "linaro", "svc_1", "a.b-c"] {
            #expect(try TargetOverrides(host: "192.0.2.10", user: user).resolve(with: nil, configPath: "t.yaml").target.user == user)
        }
    }

    /// --engine-port is checked where it is read, as init checks it: launch never sends a port no engine can use.
    @Test func anEnginePortThatIsNoTCPPortIsRefused() throws {
        for port in [0, -1, 65536, 70000] {
            #expect(throws: DeploymentSettingsError.invalidValue(key: "port", flag: "--engine-port", problem: "\(port) is not a TCP port (1-65535)")) {
                try DeploymentReference.resolve(config: nil, configPath: "t.yaml", name: "m", remoteDir: nil, port: port, profileName: nil, profiles: nil)
            }
        }
        #expect(try DeploymentReference.resolve(config: nil, configPath: "t.yaml", name: "m", remoteDir: nil, port: 8081, profileName: nil, profiles: nil).port == 8081)
    }

    /// A host ends up in `%h` of the user's own ProxyCommand: nothing a shell would act on gets through.
    @Test func aHostThatIsNoAddressIsRefused() throws {
        for host in ["x; touch /tmp/marker", "$(reboot)", "-oProxyCommand=x", "a b", "`id`", "a|b"] {
            #expect(throws: TargetError.invalidHost(host, source: "--host")) { try TargetOverrides(host: host).resolve(with: nil, configPath: "t.yaml") }
        }
        for host in ["192.0.2.10", "evb-1.lab", "fe80::1", "[::1]", "linaro@evb", "my_board"] {
            #expect(try TargetOverrides(host: host).resolve(with: nil, configPath: "t.yaml").target.host == host)
        }
    }
}
