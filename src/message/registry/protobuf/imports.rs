//! A `.proto` and the files it imports. The imports are found by protox's own
//! parser (each file's `dependency` list), and the caller reads each file
//! [`Loader::wanted`] names (from VALUE_SCHEMA's folder, or from the registry's
//! references), so reading stays async and out of the compiler, whose
//! [`FileResolver`] then serves the files loaded. Imports of Google's
//! well-known types are left to protox's [`GoogleFileResolver`]: they are not
//! read, nor registered (Confluent's serializers skip them too, and registries
//! know them).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use protox::file::{File, FileResolver, GoogleFileResolver};

/// One `.proto` file: its name (an import's path), text and imports (Google's left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoFile {
    pub name: String,
    pub text: String,
    pub imports: Vec<String>,
}

/// The values' `.proto` and every file it imports, directly or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoFiles {
    pub main: ProtoFile,
    /// Each after the files it imports: the order they are registered in.
    pub imported: Vec<ProtoFile>,
}

impl ProtoFiles {
    /// A `.proto` whose imports are not read (a derived one has none; an
    /// import other than Google's then does not compile).
    pub fn single(name: &str, text: &str) -> Self {
        ProtoFiles {
            main: ProtoFile { name: name.into(), text: text.into(), imports: Vec::new() },
            imported: Vec::new(),
        }
    }

    /// Serves every file to protox by its name, then Google's well-known types.
    pub(super) fn resolver(&self) -> impl FileResolver {
        let mut chain = protox::file::ChainFileResolver::new();
        let files = std::iter::once(&self.main).chain(&self.imported);
        chain.add(Served(files.map(|f| (f.name.clone(), f.text.clone())).collect()));
        chain.add(GoogleFileResolver::new());
        chain
    }

    /// The text of the file `name`.
    pub(super) fn text(&self, name: &str) -> Option<&str> {
        std::iter::once(&self.main).chain(&self.imported).find(|f| f.name == name).map(|f| f.text.as_str())
    }
}

struct Served(BTreeMap<String, String>);

impl FileResolver for Served {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match self.0.get(name) {
            Some(text) => File::from_source(name, text),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// Loads a `.proto`'s imports, one file at a time: [`Loader::wanted`] names
/// the next one to read (and the file that imports it), [`Loader::add`]
/// takes its text.
pub struct Loader {
    main: ProtoFile,
    loaded: BTreeMap<String, ProtoFile>,
    wanted: VecDeque<(String, String)>,
}

impl Loader {
    /// Parses `text` (named `name`) for its imports. The error is the parser's
    /// message with its line and column.
    pub fn new(name: &str, text: &str) -> Result<Self, String> {
        let imports = imports_of(name, text)?;
        let wanted = imports.iter().map(|i| (i.clone(), name.to_owned())).collect();
        Ok(Loader {
            main: ProtoFile { name: name.into(), text: text.into(), imports },
            loaded: BTreeMap::new(),
            wanted,
        })
    }

    /// The next import to read, and the file that imports it; `None` when every one is loaded.
    pub fn wanted(&mut self) -> Option<(String, String)> {
        while let Some((import, by)) = self.wanted.pop_front() {
            if import != self.main.name && !self.loaded.contains_key(&import) {
                return Some((import, by));
            }
        }
        None
    }

    /// The text of import `name`; its own imports are read next. The error
    /// is the parser's, naming the file, with its line and column.
    pub fn add(&mut self, name: &str, text: &str) -> Result<(), String> {
        let imports = imports_of(name, text).map_err(|e| format!("{name}: {e}"))?;
        self.wanted.extend(imports.iter().map(|i| (i.clone(), name.to_owned())));
        self.loaded.insert(name.into(), ProtoFile { name: name.into(), text: text.into(), imports });
        Ok(())
    }

    /// The files loaded, each after those it imports (an import cycle is left
    /// to the compiler, which names it).
    pub fn finish(mut self) -> ProtoFiles {
        let mut order = Vec::new();
        let mut seen = BTreeSet::from([self.main.name.clone()]);
        for import in &self.main.imports {
            visit(import, &self.loaded, &mut seen, &mut order);
        }
        let imported = order.iter().filter_map(|name| self.loaded.remove(name)).collect();
        ProtoFiles { main: self.main, imported }
    }
}

/// Post-order: a file's imports before the file.
fn visit(name: &str, loaded: &BTreeMap<String, ProtoFile>, seen: &mut BTreeSet<String>, order: &mut Vec<String>) {
    if !seen.insert(name.to_owned()) {
        return;
    }
    if let Some(file) = loaded.get(name) {
        for import in &file.imports {
            visit(import, loaded, seen, order);
        }
    }
    order.push(name.to_owned());
}

/// The files `text` imports, by protox's parser; Google's well-known types left out.
fn imports_of(name: &str, text: &str) -> Result<Vec<String>, String> {
    let file = File::from_source(name, text).map_err(|e| super::with_position(&e, text))?;
    let google = GoogleFileResolver::new();
    Ok(file.file_descriptor_proto().dependency.iter().filter(|d| google.open_file(d).is_err()).cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> BTreeMap<&'static str, &'static str> {
        BTreeMap::from([
            ("common/money.proto", "syntax = \"proto3\";\npackage common;\nimport \"common/currency.proto\";\nmessage Money { Currency currency = 1; int64 units = 2; }\n"),
            ("common/currency.proto", "syntax = \"proto3\";\npackage common;\nmessage Currency { string code = 1; }\n"),
        ])
    }

    const ORDERS: &str = "syntax = \"proto3\";\npackage shop;\nimport \"common/money.proto\";\nimport \"google/protobuf/timestamp.proto\";\nimport \"common/currency.proto\";\nmessage Order { string id = 1; common.Money total = 2; google.protobuf.Timestamp at = 3; }\n";

    fn load(main: &str, files: &BTreeMap<&str, &str>) -> Result<ProtoFiles, String> {
        let mut loader = Loader::new("orders.proto", main)?;
        while let Some((import, by)) = loader.wanted() {
            let text = files.get(import.as_str()).ok_or(format!("{import} (imported by {by}) is missing"))?;
            loader.add(&import, text)?;
        }
        Ok(loader.finish())
    }

    #[test]
    fn imports_are_read_once_each_after_what_they_import_google_left_out() {
        let loaded = load(ORDERS, &files()).unwrap();
        assert_eq!(loaded.main.imports, ["common/money.proto", "common/currency.proto"], "Google's is not read");
        let names: Vec<&str> = loaded.imported.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["common/currency.proto", "common/money.proto"], "registered in this order");
        assert_eq!(loaded.imported[1].imports, ["common/currency.proto"]);
        assert_eq!(loaded.text("common/money.proto"), Some(files()["common/money.proto"]));
    }

    #[test]
    fn a_missing_import_is_named_with_the_file_that_imports_it() {
        let mut partial = files();
        partial.remove("common/currency.proto");
        let e = load(ORDERS, &partial).unwrap_err();
        assert_eq!(e, "common/currency.proto (imported by orders.proto) is missing");
        let only_money = ORDERS.replace("import \"common/currency.proto\";\n", "");
        let e = load(&only_money, &partial).unwrap_err();
        assert_eq!(e, "common/currency.proto (imported by common/money.proto) is missing", "an import's import");
    }

    #[test]
    fn an_import_that_does_not_parse_is_named_with_the_position() {
        let mut broken = files();
        broken.insert("common/currency.proto", "syntax = \"proto3\";\nmessage Currency { strin code = 1 }\n");
        let e = load(ORDERS, &broken).unwrap_err();
        assert!(e.starts_with("common/currency.proto: ") && e.contains("(line 2, column"), "{e}");
    }

    #[test]
    fn an_import_cycle_ends() {
        let a = "syntax = \"proto3\";\nimport \"b.proto\";\nmessage A { string a = 1; }\n";
        let b = "syntax = \"proto3\";\nimport \"a.proto\";\nimport \"orders.proto\";\nmessage B { string b = 1; }\n";
        let loaded = load(
            "syntax = \"proto3\";\nimport \"a.proto\";\nmessage O { A a = 1; }\n",
            &BTreeMap::from([("a.proto", a), ("b.proto", b)]),
        )
        .unwrap();
        let names: Vec<&str> = loaded.imported.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["b.proto", "a.proto"]);
    }
}
