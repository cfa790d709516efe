# Homebrew formula: builds from the release tarball with cargo.
class Secretexec < Formula
  desc "Fetch AWS Secrets Manager secrets into the environment, then exec"
  homepage "https://example.invalid/secretexec"
  url "https://example.invalid/secretexec/archive/v0.1.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  license "Apache-2.0"

  depends_on "rust" => :build

  def install
    system "cargo", "install", *std_cargo_args
    man1.install "packaging/man/secretexec.1"
    bash_completion.install "packaging/completions/secretexec.bash" => "secretexec"
    zsh_completion.install "packaging/completions/_secretexec"
    fish_completion.install "packaging/completions/secretexec.fish"
  end

  test do
    assert_match "secretexec #{version}", shell_output("#{bin}/secretexec --version")
    assert_equal "hi\n", shell_output("#{bin}/secretexec -- echo hi")
  end
end
