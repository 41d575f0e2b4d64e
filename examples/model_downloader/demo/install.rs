//! The `DependencyManager` component, which installs downloaded models, and
//! the scratch directory the demo runs in: a warm local cache and an install
//! tree with one read-only family directory and one family without a manifest.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use reliability_core::{reliable, Classify};

use super::client::ModelFile;
use super::faults::{fnv1a64, model_bytes, Family};

/// The family whose system directory is read-only.
pub const READ_ONLY_FAMILY: Family = Family::Audio;
/// The family whose manifest is missing.
pub const UNCONFIGURED_FAMILY: Family = Family::Diffusion;
const MANIFEST: &str = "MANIFEST";

/// Why a model could not be installed.
#[derive(Debug, Classify)]
pub enum InstallError {
    /// The family has no manifest: nobody said what its installs consist of.
    #[category(configuration)]
    MissingManifest { family: Family },
    /// The target directory may not be written.
    #[category(permission)]
    ReadOnly { dir: String },
    /// Anything else the file system said, classified by its kind.
    #[category(source)]
    Io(io::Error),
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallError::MissingManifest { family } => {
                write!(f, "no {MANIFEST} for family `{family}`")
            }
            InstallError::ReadOnly { dir } => write!(f, "{dir} is read-only"),
            InstallError::Io(error) => write!(f, "install failed: {error}"),
        }
    }
}

impl std::error::Error for InstallError {}

impl From<io::Error> for InstallError {
    fn from(error: io::Error) -> Self {
        InstallError::Io(error)
    }
}

/// Installs models under `root`: `system/<family>/` normally, `user/<family>/`
/// when the system directory may not be written.
#[derive(Debug)]
pub struct DependencyManager {
    root: PathBuf,
}

#[reliable(
    component = "dependency_manager",
    strategies = [fallback, escalate],
    fallback = user_install
)]
impl DependencyManager {
    /// Into the family's system directory, recorded in its manifest.
    /// Returns the file's path relative to the install root.
    pub fn install(&self, file: &ModelFile, family: Family) -> Result<PathBuf, InstallError> {
        self.manifest(family)?;
        let relative = Path::new("system").join(family.as_str());
        let dir = self.root.join(&relative);
        // Checked up front, not left to the OS: a process running as root
        // would be let through, and the demo must tell the same story there.
        if fs::metadata(&dir)?.permissions().readonly() {
            return Err(InstallError::ReadOnly {
                dir: relative.display().to_string(),
            });
        }
        self.place(file, &relative)
    }

    /// Into the user's own directory. The family's manifest is still needed:
    /// it says what an install of this family consists of.
    pub fn user_install(&self, file: &ModelFile, family: Family) -> Result<PathBuf, InstallError> {
        self.manifest(family)?;
        let relative = Path::new("user").join(family.as_str());
        fs::create_dir_all(self.root.join(&relative))?;
        self.place(file, &relative)
    }
}

impl DependencyManager {
    pub fn new(root: PathBuf) -> Self {
        DependencyManager { root }
    }

    fn manifest(&self, family: Family) -> Result<PathBuf, InstallError> {
        let path = self
            .root
            .join("system")
            .join(family.as_str())
            .join(MANIFEST);
        if path.is_file() {
            Ok(path)
        } else {
            Err(InstallError::MissingManifest { family })
        }
    }

    /// Writes the file through a temporary name, then records it in a
    /// manifest of the directory it went to.
    fn place(&self, file: &ModelFile, relative: &Path) -> Result<PathBuf, InstallError> {
        let dir = self.root.join(relative);
        let name = format!("{}.bin", file.name);
        let partial = dir.join(format!(".{name}.partial"));
        fs::write(&partial, &file.bytes)?;
        fs::rename(&partial, dir.join(&name))?;
        let mut manifest = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(MANIFEST))?;
        writeln!(manifest, "{name} fnv1a64={:016x}", file.checksum)?;
        Ok(relative.join(name))
    }
}

/// The demo's scratch directory under the system's temporary directory:
/// `cache/` (a warm local cache) and `install/` (the install tree). Removed
/// when dropped.
#[derive(Debug)]
pub struct Workspace {
    root: PathBuf,
    read_only: PathBuf,
    writable: Option<fs::Permissions>,
}

impl Workspace {
    pub fn create() -> io::Result<Self> {
        static RUNS: AtomicU32 = AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "reliability-demo-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        if root.exists() {
            fs::remove_dir_all(&root)?;
        }
        fs::create_dir_all(root.join("cache"))?;
        let mut workspace = Workspace {
            read_only: root
                .join("install")
                .join("system")
                .join(READ_ONLY_FAMILY.as_str()),
            root,
            writable: None,
        };
        for family in Family::ALL {
            let dir = workspace
                .install_root()
                .join("system")
                .join(family.as_str());
            fs::create_dir_all(&dir)?;
            if family != UNCONFIGURED_FAMILY {
                fs::write(dir.join(MANIFEST), "")?;
            }
        }
        let permissions = fs::metadata(&workspace.read_only)?.permissions();
        let mut read_only = permissions.clone();
        read_only.set_readonly(true);
        fs::set_permissions(&workspace.read_only, read_only)?;
        workspace.writable = Some(permissions);
        Ok(workspace)
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    pub fn install_root(&self) -> PathBuf {
        self.root.join("install")
    }

    /// Puts a model in the local cache, as an earlier run would have.
    pub fn warm(&self, name: &str) -> io::Result<()> {
        let bytes = model_bytes(name);
        let path = self.cache_dir().join(format!("{name}.bin"));
        fs::write(&path, &bytes)?;
        fs::write(
            path.with_extension("fnv1a64"),
            format!("{:016x}\n", fnv1a64(&bytes)),
        )
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if let Some(permissions) = self.writable.take() {
            let _ = fs::set_permissions(&self.read_only, permissions);
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}
