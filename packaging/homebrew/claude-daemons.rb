# Homebrew formula of claude-daemons. Installs the same programs, man pages and completions
# as the Debian package ([package.metadata.deb] in Cargo.toml), and the launchd agents
# instead of systemd units; tests/package_recipes.rs compares the `*.install` lines with it
# (and checks the file with `ruby -c`), so keep one `install` call per line with quoted paths
# or Dir["glob"].
#
# A formula's `service do` block cannot express launchd socket activation, so the plists are
# shipped as files and `claudectl install` fills them in and bootstraps them per user.
class ClaudeDaemons < Formula
  desc "Socket-activated daemons for Claude Code: memory, a process supervisor, messaging"
  homepage "https://github.com/claude-daemons/claude-daemons"
  url "https://github.com/claude-daemons/claude-daemons/archive/refs/tags/v0.1.0.tar.gz"
  license any_of: ["MIT", "Apache-2.0"]
  head "https://github.com/claude-daemons/claude-daemons.git", branch: "main"

  depends_on "rust" => :build

  def install
    system "cargo", "build", "--locked", "--release"
    bin.install "target/release/claude-memd", "target/release/claude-supervisord", "target/release/claude-meshd", "target/release/claude-hook", "target/release/claudectl"
    man1.install Dir["man/*.1"]
    man5.install "man/claude-daemons.toml.5"
    man7.install "man/claude-daemons.7"
    bash_completion.install "completions/claudectl.bash" => "claudectl"
    zsh_completion.install "completions/_claudectl"
    fish_completion.install "completions/claudectl.fish"
    doc.install "README.md", "LICENSE-MIT", "LICENSE-APACHE"
    (pkgshare/"launchd").install Dir["units/launchd/*.plist"]
  end

  def caveats
    <<~EOS
      The daemons start on demand through launchd. To load their agents for your user and
      register claude-hook with Claude Code, run:
        claudectl install --now
      `claudectl uninstall` takes it out again; `claudectl status` shows what runs.
    EOS
  end

  test do
    assert_match version.to_s, shell_output("#{bin}/claudectl --version")
    assert_match "claude-memd", shell_output("#{bin}/claude-memd --help")
    system bin/"claude-hook", "--version"
  end
end
