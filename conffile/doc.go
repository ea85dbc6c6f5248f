// Package conffile parses configuration files in the format of Perl's
// Config::General module (version 2.65), which the Perl prototype of
// knockclient and knockdaemon read, so that those files keep working.
//
// # Option set
//
// Config::General's behaviour depends on its options. This package
// implements exactly this set, the one the Perl programs used; the test
// helper testdata/dump.pl passes the same list to Config::General:
//
//	-LowerCaseNames        => 1        keys and block names lower-cased
//	-UseApacheInclude      => 0        only <<include file>>, not "include file"
//	-IncludeRelative       => 1        includes relative to the including file
//	-IncludeGlob           => 1        include names are glob patterns
//	-IncludeDirectories    => 0        (default) including a directory is an error
//	-IncludeAgain          => 0        (default) a file is read once
//	-AllowMultiOptions     => 1        (default) a repeated key becomes a list
//	-MergeDuplicateOptions => 0        (default)
//	-MergeDuplicateBlocks  => 0        (default) a repeated block becomes a list
//	-InterPolateVars       => 0        (default) "$var" is left alone
//	-InterPolateEnv        => 0        (default)
//	-SplitPolicy           => 'guess'  (default) "key value" or "key = value"
//	-AutoTrue              => 0        (default) "yes"/"no" stay strings
//	-CComments             => 1        (default) /* ... */ comments
//	-SlashIsDirectory      => 0        (default)
//	-ApacheCompatible      => 0        (default)
//	-UseApacheIfDefine     => 0        (default)
//	-ForceArray            => 0        (default)
//	-NoEscape              => 0        (default) \# \$ \\ \" are escapes
//	-UTF8                  => 0        (default) bytes, unless the file has a BOM
//
// # Format
//
// A file is read line by line, in two passes, as Config::General reads it.
// The first pass makes logical lines:
//
//   - Inside a here-document only its end marker counts (see below).
//   - C comments: "/* ... */" within a line is removed together with the
//     white space around it; a line starting with "/*" starts a comment
//     that ends on a line containing "*/", whose rest is kept.
//   - "#" starts a comment anywhere on a line, even inside quotes, unless
//     written "\#". So "port 22 # ssh" is port "22", and
//     `key = "a # b"` is key `"a` (the quote stays, as it is not matched).
//   - A line ending in a backslash (not "\\") is joined with the next one,
//     whose leading white space is dropped. With CRLF line endings the
//     backslash is followed by the carriage return, so it does not continue
//     the line.
//   - "<name/>" and "<name label/>" at the end of a line become an empty
//     block.
//   - "key <<EOF" and "key = <<EOF" start a here-document that ends at a
//     line holding just the marker ("EOF"), possibly with white space
//     around it. If the marker is indented, exactly that indentation is
//     removed from each line of the text. Comments, includes and blocks
//     are not recognised in the text.
//   - Blank lines are skipped.
//   - "<<include name>>" (the keyword in any case) is replaced by the named
//     file's lines. The name is relative to the including file's directory
//     and is a glob pattern (Perl's bsd_glob: * ? [...] [!...] {a,b} and a
//     backslash to quote) if it holds one of * ? [ { \; a pattern may
//     match nothing, its matches are included in sorted order, and names
//     starting with "." only match a pattern that does. Quotes are not
//     removed from the name. A file is read at most once: a later include of
//     it is skipped, which also ends an include loop. Since an included
//     file's lines are spliced in, a block opened in one file may be closed
//     in another. With ParseFile and an absolute path, an include not
//     found next to the including file is also looked for in the
//     top-level file's directory (Config::General's -ConfigPath).
//
// The second pass splits each logical line, with surrounding white space
// removed, into key and value at the first "=" (with any white space
// around it) or the first run of white space, whichever comes first:
// "a b=c" is key "a" and value "b=c", "a=b=c" is "a" and "b=c", "key" alone
// has no value (nil in Map), "key =" has the value "". A value starting
// and ending with a double quote loses those two quotes (this keeps
// leading and trailing white space); then "\\", "\"", "\#" and "\$" stand
// for the character. Keys and block names are lower-cased, block labels
// are not.
//
// A line "<name>" opens a block and "</name>" closes it; blocks nest. A
// block still open at the end, or a closing tag with no block open, is an
// error.
// "<name label>" opens a named block; the label is the rest of the tag,
// spaces and all, or a double-quoted string. "<"name with spaces">" is a
// plain block with a quoted name.
//
// In Map, a key seen once holds its value and a repeated one a list of
// values; a block is a map, a named block a map of labels to maps, and
// repeated blocks (or labels) become lists too. Values and blocks of the
// same name mix in one list in file order, except that a block may not
// follow a single value of its name, and a named block may follow neither
// a value nor a list; those are errors, as in Config::General.
//
// A file starting with a UTF-8 byte-order mark is read as characters, as
// Config::General does: the mark is dropped, white space includes the
// Unicode white space characters and lower-casing is Unicode's. Other
// files are bytes: only ASCII white space and ASCII letters count.
//
// # Where this package is stricter
//
// Config::General accepts the following, warning or silently losing part
// of the file; here they are errors, because the result is never what was
// meant:
//
//   - a here-document, a "/*" comment or a continued line still open at
//     the end of a file (Config::General drops the rest of the file);
//   - a "*/" with no comment open (Config::General warns and drops the
//     line up to it: "path = /usr/*/bin" became a key "bin");
//   - a closing tag that does not name the block it closes (compared
//     case-insensitively; Config::General ignores the name);
//   - a block left open whose name is "0" or empty (Config::General
//     drops it silently, while it rejects other unclosed blocks);
//   - a file with a byte-order mark that is not valid UTF-8 (what
//     Config::General makes of it ranges from garbage to perl crashing);
//   - includes nested deeper than the include depth limit, an include loop
//     that Config::General would follow until the file names grew too long,
//     files larger than the size limit and blocks nested deeper than the
//     nesting limit.
//
// # Limits
//
// To survive hostile input, a file (top-level or included) may have at most
// DefaultMaxFileSize bytes, includes nest at most DefaultMaxIncludeDepth
// deep and blocks DefaultMaxNesting deep (options change these), and glob
// patterns read at most 10000 directories in one parse. Nothing recurses
// deeper than the block nesting limit, and the work is linear in the input.
//
// # Errors
//
// Errors are *Error values naming the file and line: "knock.conf:12: block
// "profile" opened here is never closed", or "a.conf:3: include "x.conf":
// open x.conf: no such file or directory", which unwraps to the error from
// the file system.
package conffile
