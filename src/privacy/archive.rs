//! The one archive writer both exports use (a person's subject access export and a whole
//! school's offboarding export): a zip holding, for every kind of row, `NAME.json` and
//! `NAME.csv`, and `manifest.json` naming each file with its row count, size and SHA-256.
//!
//! - `NAME.json` is a JSON array of row objects, keys in the table's column order; `NAME.csv`
//!   has the same rows, its first line `# Exported for REQUESTER at TIME`, then the header row.
//!   Values in CSV are as PostgreSQL's JSON gives them (times in RFC 3339, lists and objects as
//!   JSON text), empty for none.
//! - Rows are read as a stream and written, compressed and hashed as they arrive; nothing holds
//!   a table in memory. Each kind is read twice (once per format), so callers read inside a
//!   snapshot transaction (`tenancy::begin_school_snapshot_tx`) and both files agree.
//! - [`verify`] reads an archive back: the file's SHA-256, and every file against the manifest.
//!
//! The zip is written to a seekable file (the zip format patches each entry's header after its
//! data); the caller sends or keeps the file afterwards.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::postgres::PgArguments;
use sqlx::{Arguments, AssertSqlSafe, Executor, PgConnection, SqlSafeStr, Statement};
use uuid::Uuid;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

/// The manifest's own name inside the archive.
pub const MANIFEST: &str = "manifest.json";

/// The manifest's layout version, for whoever reads archives years later.
const FORMAT: u32 = 1;

/// Why an archive could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("reading the rows of {file}")]
    Database {
        file: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("writing the archive")]
    Io(#[from] io::Error),
    #[error("writing the archive")]
    Zip(#[from] zip::result::ZipError),
    #[error("writing a CSV file")]
    Csv(#[from] csv::Error),
    #[error("writing the manifest")]
    Manifest(#[from] serde_json::Error),
}

/// A value bound to one of a source's `$n` parameters.
#[derive(Debug, Clone)]
pub enum Bind {
    Uuid(Uuid),
    Text(String),
}

/// One kind of row: the file name (without extension) and the query that reads its rows.
///
/// `sql` is a plain `SELECT`; its column names become the JSON keys and the CSV header.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub sql: String,
    pub binds: Vec<Bind>,
}

impl Source {
    pub fn new(name: impl Into<String>, sql: impl Into<String>, binds: Vec<Bind>) -> Self {
        Self {
            name: name.into(),
            sql: sql.into(),
            binds,
        }
    }

    fn arguments(&self) -> Result<PgArguments, ArchiveError> {
        let mut args = PgArguments::default();
        for bind in &self.binds {
            let added = match bind {
                Bind::Uuid(id) => args.add(*id),
                Bind::Text(text) => args.add(text.clone()),
            };
            added.map_err(|e| ArchiveError::Database {
                file: self.name.clone(),
                source: sqlx::Error::Encode(e),
            })?;
        }
        Ok(args)
    }

    fn database_error(&self) -> impl Fn(sqlx::Error) -> ArchiveError + '_ {
        |source| ArchiveError::Database {
            file: self.name.clone(),
            source,
        }
    }

    /// How many rows the source has now (for summaries of what we hold).
    pub async fn count(&self, conn: &mut PgConnection) -> Result<i64, ArchiveError> {
        let sql = format!("SELECT count(*) FROM ({}) AS t", self.sql);
        sqlx::query_scalar_with(AssertSqlSafe(sql), self.arguments()?)
            .fetch_one(conn)
            .await
            .map_err(self.database_error())
    }
}

/// Whose data an archive holds, for the manifest and the CSV files' first line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Subject {
    /// `student`, `staff` or `school`.
    pub kind: String,
    pub id: Uuid,
}

/// The school an archive comes from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestSchool {
    pub slug: String,
    pub name: String,
}

/// One file of the archive as the manifest lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestFile {
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the file's bytes (as extracted, not compressed).
    pub sha256: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: u32,
    pub school: ManifestSchool,
    pub subject: Subject,
    /// Who asked for the export: a member of staff's name and address, or an operator's name.
    pub requester: String,
    pub generated_at_utc: String,
    /// The same instant on the school's clock, with its offset (BST or GMT).
    pub generated_at_london: String,
    pub files: Vec<ManifestFile>,
}

/// What goes on every archive's label.
#[derive(Debug, Clone)]
pub struct ArchiveLabel {
    pub school: ManifestSchool,
    pub subject: Subject,
    pub requester: String,
    pub at: DateTime<Utc>,
}

impl ArchiveLabel {
    fn utc(&self) -> String {
        self.at.to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    fn london(&self) -> String {
        self.at
            .with_timezone(&chrono_tz::Europe::London)
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }

    /// The first line of every CSV file; the requester's name cannot break it onto two lines.
    fn csv_first_line(&self) -> String {
        let requester: String = self
            .requester
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        format!(
            "# Exported for {requester} at {} ({} UTC)\n",
            self.london(),
            self.utc()
        )
    }
}

/// Counts and hashes what passes through to the zip entry being written.
struct Hashing<'a, W: Write> {
    inner: &'a mut W,
    sha: Sha256,
    bytes: u64,
}

impl<'a, W: Write> Hashing<'a, W> {
    fn new(inner: &'a mut W) -> Self {
        Self {
            inner,
            sha: Sha256::new(),
            bytes: 0,
        }
    }

    fn done(self, name: String, rows: u64) -> ManifestFile {
        ManifestFile {
            name,
            rows,
            bytes: self.bytes,
            sha256: hex(&self.sha.finalize()),
        }
    }
}

impl<W: Write> Write for Hashing<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A zip being written: add sources, then [`ArchiveWriter::finish`].
pub struct ArchiveWriter<W: Write + Seek> {
    zip: ZipWriter<W>,
    label: ArchiveLabel,
    files: Vec<ManifestFile>,
}

fn entry_options() -> SimpleFileOptions {
    // Zip64 headers throughout: a school's audit log can pass 4 GiB uncompressed.
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(true)
}

impl<W: Write + Seek> ArchiveWriter<W> {
    pub fn new(out: W, label: ArchiveLabel) -> Self {
        Self {
            zip: ZipWriter::new(out),
            label,
            files: Vec::new(),
        }
    }

    /// Writes `NAME.json` and `NAME.csv` of one source, reading its rows twice through `conn`.
    pub async fn add(
        &mut self,
        conn: &mut PgConnection,
        source: &Source,
    ) -> Result<(), ArchiveError> {
        let failed = source.database_error();
        // The column names, even when there are no rows, from the prepared statement.
        let statement = (&mut *conn)
            .prepare(AssertSqlSafe(source.sql.clone()).into_sql_str())
            .await
            .map_err(&failed)?;
        let columns: Vec<String> = statement
            .columns()
            .iter()
            .map(|c| sqlx::Column::name(c).to_owned())
            .collect();

        // JSON: the rows as PostgreSQL renders them, keys in column order.
        let name = format!("{}.json", source.name);
        self.zip.start_file(name.as_str(), entry_options())?;
        let mut out = Hashing::new(&mut self.zip);
        out.write_all(b"[")?;
        let sql = format!("SELECT row_to_json(t)::text FROM ({}) AS t", source.sql);
        let mut rows =
            sqlx::query_scalar_with::<_, String, _>(AssertSqlSafe(sql), source.arguments()?)
                .fetch(&mut *conn);
        let mut count = 0u64;
        while let Some(row) = rows.try_next().await.map_err(&failed)? {
            out.write_all(if count == 0 { b"\n" } else { b",\n" })?;
            out.write_all(row.as_bytes())?;
            count += 1;
        }
        drop(rows);
        out.write_all(b"\n]\n")?;
        self.files.push(out.done(name, count));

        // CSV: the same rows' values as text, in the same order.
        let name = format!("{}.csv", source.name);
        self.zip.start_file(name.as_str(), entry_options())?;
        let mut out = Hashing::new(&mut self.zip);
        out.write_all(self.label.csv_first_line().as_bytes())?;
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(&columns)?;
        let sql = format!(
            "SELECT ARRAY(SELECT value FROM json_each_text(row_to_json(t))) FROM ({}) AS t",
            source.sql
        );
        let mut rows = sqlx::query_scalar_with::<_, Vec<Option<String>>, _>(
            AssertSqlSafe(sql),
            source.arguments()?,
        )
        .fetch(&mut *conn);
        let mut count = 0u64;
        while let Some(values) = rows.try_next().await.map_err(&failed)? {
            csv.write_record(values.iter().map(|v| {
                match spreadsheet_safe(v.as_deref().unwrap_or_default()) {
                    std::borrow::Cow::Borrowed(text) => std::borrow::Cow::Borrowed(text.as_bytes()),
                    std::borrow::Cow::Owned(text) => std::borrow::Cow::Owned(text.into_bytes()),
                }
            }))?;
            count += 1;
        }
        drop(rows);
        let out = csv
            .into_inner()
            .map_err(|e| ArchiveError::Io(e.into_error()))?;
        self.files.push(out.done(name, count));
        Ok(())
    }

    /// Writes the manifest and closes the zip; returns the output and the manifest.
    pub fn finish(mut self) -> Result<(W, Manifest), ArchiveError> {
        let manifest = Manifest {
            format: FORMAT,
            school: self.label.school.clone(),
            subject: self.label.subject.clone(),
            requester: self.label.requester.clone(),
            generated_at_utc: self.label.utc(),
            generated_at_london: self.label.london(),
            files: std::mem::take(&mut self.files),
        };
        self.zip.start_file(MANIFEST, entry_options())?;
        serde_json::to_writer_pretty(&mut self.zip, &manifest)?;
        self.zip.write_all(b"\n")?;
        let out = self.zip.finish()?;
        Ok((out, manifest))
    }
}

/// A CSV cell a spreadsheet will show as text, never run as a formula. Students name their own
/// files and onward shares' grantees are typed by anyone, so a cell beginning `=`, `+`, `-` or `@`
/// (or a tab or carriage return) gets a leading `'`, which spreadsheets hide; numbers such as `-5`
/// are left alone. The JSON files keep every value exactly as held.
fn spreadsheet_safe(value: &str) -> std::borrow::Cow<'_, str> {
    let risky = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && value.parse::<f64>().is_err() {
        std::borrow::Cow::Owned(format!("'{value}"))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

/// SHA-256 of a whole file, read in pieces.
pub fn file_sha256(path: &Path) -> io::Result<String> {
    let mut file = BufReader::new(File::open(path)?);
    let mut sha = Sha256::new();
    io::copy(&mut file, &mut sha)?;
    Ok(hex(&sha.finalize()))
}

/// Why an archive did not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read {0}: {1}")]
    Unreadable(String, #[source] io::Error),
    #[error("the file is not the export that was recorded (its SHA-256 differs)")]
    FileChanged,
    #[error("the file is not a readable zip: {0}")]
    NotZip(#[source] zip::result::ZipError),
    #[error("the archive has no readable {MANIFEST}")]
    NoManifest,
    #[error("{0} is missing from the archive")]
    Missing(String),
    #[error("{0} does not match the manifest (changed or damaged)")]
    Mismatch(String),
    #[error("{0} is in the archive but not in its manifest")]
    Unlisted(String),
}

/// What a verified archive holds.
#[derive(Debug, Clone)]
pub struct Verified {
    pub file_sha256: String,
    pub manifest: Manifest,
}

/// Reads an archive back: the whole file's SHA-256 must be `expected_sha256` (when given), and
/// every file the manifest lists must be there with its size and SHA-256, and nothing else.
pub fn verify(path: &Path, expected_sha256: Option<&str>) -> Result<Verified, VerifyError> {
    let shown = path.display().to_string();
    let unreadable = |e| VerifyError::Unreadable(shown.clone(), e);
    let file_sha256 = file_sha256(path).map_err(unreadable)?;
    if expected_sha256.is_some_and(|expected| expected != file_sha256) {
        return Err(VerifyError::FileChanged);
    }
    let file = File::open(path).map_err(unreadable)?;
    let mut zip = ZipArchive::new(BufReader::new(file)).map_err(VerifyError::NotZip)?;
    let manifest: Manifest = {
        let mut entry = zip.by_name(MANIFEST).map_err(|_| VerifyError::NoManifest)?;
        let mut text = Vec::new();
        entry
            .read_to_end(&mut text)
            .map_err(|_| VerifyError::NoManifest)?;
        serde_json::from_slice(&text).map_err(|_| VerifyError::NoManifest)?
    };
    for listed in &manifest.files {
        let mut entry = zip
            .by_name(&listed.name)
            .map_err(|_| VerifyError::Missing(listed.name.clone()))?;
        let mut sha = Sha256::new();
        let bytes = io::copy(&mut entry, &mut sha)
            .map_err(|_| VerifyError::Mismatch(listed.name.clone()))?;
        if bytes != listed.bytes || hex(&sha.finalize()) != listed.sha256 {
            return Err(VerifyError::Mismatch(listed.name.clone()));
        }
    }
    for i in 0..zip.len() {
        let name = zip
            .name_for_index(i)
            .and_then(Result::ok)
            .map(|n| n.into_owned())
            .unwrap_or_default();
        if name != MANIFEST && !manifest.files.iter().any(|f| f.name == name) {
            return Err(VerifyError::Unlisted(name));
        }
    }
    Ok(Verified {
        file_sha256,
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_are_kept_as_text() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("+44 1234"), "'+44 1234");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("-5"), "-5");
        assert_eq!(spreadsheet_safe("Essay draft.docx"), "Essay draft.docx");
        assert_eq!(spreadsheet_safe(""), "");
    }

    #[test]
    fn csv_first_line_names_requester_and_time_on_one_line() {
        let label = ArchiveLabel {
            school: ManifestSchool {
                slug: "hillside".into(),
                name: "Hillside".into(),
            },
            subject: Subject {
                kind: "school".into(),
                id: Uuid::nil(),
            },
            requester: "Ada\nLovelace".into(),
            at: "2026-07-01T08:00:00Z".parse().unwrap(),
        };
        assert_eq!(
            label.csv_first_line(),
            "# Exported for Ada Lovelace at 2026-07-01T09:00:00+01:00 (2026-07-01T08:00:00Z UTC)\n"
        );
    }
}
