//! What a Parquet column's Arrow type says: its logical type, whether it
//! has a JSON mapping, and what its values are as JSON (for a schema
//! derivation, without reading the rows written).

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, Field, TimeUnit};

use crate::dataset::records::Logical;
use crate::dataset::shape::Shape;

/// The logical type a column's JSON text stands for (see the table above).
pub(super) fn logical(data_type: &DataType) -> Option<Logical> {
    use DataType::*;
    Some(match data_type {
        Timestamp(TimeUnit::Second | TimeUnit::Millisecond, _) => Logical::TimestampMillis,
        Timestamp(TimeUnit::Microsecond, _) => Logical::TimestampMicros,
        Timestamp(TimeUnit::Nanosecond, _) => Logical::TimestampNanos,
        Date32 | Date64 => Logical::Date,
        Decimal32(p, s) | Decimal64(p, s) | Decimal128(p, s) | Decimal256(p, s) if *s >= 0 => {
            Logical::Decimal { precision: *p, scale: *s as u8 }
        }
        Dictionary(_, values) => return logical(values),
        _ => return None,
    })
}

/// Walks a field's type; `Err((column path, type))` for the first type with no mapping.
pub(super) fn check_supported(field: &Field, path: &str) -> Result<(), (String, String)> {
    use DataType::*;
    let nested = |f: &Field, p: String| check_supported(f, &p);
    match field.data_type() {
        Null | Boolean | Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Float16 | Float32
        | Float64 | Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) | Utf8 | LargeUtf8 | Utf8View
        | Binary | LargeBinary | BinaryView | FixedSizeBinary(_) | Date32 | Date64 | Timestamp(..) | Time32(_)
        | Time64(_) => Ok(()),
        List(f) | LargeList(f) | FixedSizeList(f, _) => nested(f, format!("{path}[]")),
        Struct(fields) => fields.iter().try_for_each(|f| nested(f, format!("{path}.{}", f.name()))),
        Map(entries, _) => nested(entries, path.to_owned()),
        Dictionary(_, values) => check_supported(&Field::new(path, values.as_ref().clone(), true), path),
        other => Err((path.to_owned(), other.to_string())),
    }
}

/// Notes in `shape` what `column`'s values are as the writer writes them
/// (what [`crate::dataset::shape::Fields::observe_record`] would find in the
/// rows). `false` for a type whose JSON kinds this does not work out (a list,
/// struct or map, a decimal of negative scale or beyond 128 bits): the caller
/// then reads the rows instead.
pub(super) fn observe(column: &ArrayRef, shape: &mut Shape) -> bool {
    use DataType::*;
    let rows = column.len();
    let nulls = column.logical_nulls();
    let null_count = nulls.as_ref().map_or(0, |n| n.null_count());
    shape.present += rows as u64;
    shape.null |= null_count > 0;
    if null_count == rows {
        // Written as null whatever the type.
        return true;
    }
    let valid = |i: usize| nulls.as_ref().is_none_or(|n| n.is_valid(i));
    match column.data_type() {
        // A value beyond i64 is written as its digits, which no i64 holds: a double.
        UInt64 => {
            let values = column.as_primitive::<UInt64Type>();
            for i in (0..rows).filter(|&i| valid(i)) {
                match i64::try_from(values.value(i)) {
                    Ok(_) => shape.long = true,
                    Err(_) => shape.double = true,
                }
            }
            true
        }
        // Finite values are written with a point or an exponent; NaN and infinities as null.
        Float16 | Float32 | Float64 => {
            let finite = |i: usize| match column.data_type() {
                Float16 => column.as_primitive::<Float16Type>().value(i).is_finite(),
                Float32 => column.as_primitive::<Float32Type>().value(i).is_finite(),
                _ => column.as_primitive::<Float64Type>().value(i).is_finite(),
            };
            for i in (0..rows).filter(|&i| valid(i)) {
                match finite(i) {
                    true => shape.double = true,
                    false => shape.null = true,
                }
            }
            true
        }
        // With decimals, a point: a double; of scale 0, a whole number.
        Decimal32(..) | Decimal64(..) | Decimal128(..) => match decimal_scale(column.data_type()) {
            Some(0) => {
                let value = |i: usize| match column.data_type() {
                    Decimal32(..) => i128::from(column.as_primitive::<Decimal32Type>().value(i)),
                    Decimal64(..) => i128::from(column.as_primitive::<Decimal64Type>().value(i)),
                    _ => column.as_primitive::<Decimal128Type>().value(i),
                };
                for i in (0..rows).filter(|&i| valid(i)) {
                    match i64::try_from(value(i)) {
                        Ok(_) => shape.long = true,
                        Err(_) => shape.double = true,
                    }
                }
                true
            }
            Some(_) => {
                shape.double = true;
                true
            }
            None => false,
        },
        other => match kind_of(other) {
            Some(kind) => {
                kind(shape);
                true
            }
            None => false,
        },
    }
}

/// The decimal's scale, when it is 0 or more and within 128 bits.
fn decimal_scale(data_type: &DataType) -> Option<i8> {
    match data_type {
        DataType::Decimal32(_, s) | DataType::Decimal64(_, s) | DataType::Decimal128(_, s) if *s >= 0 => Some(*s),
        _ => None,
    }
}

/// The one JSON kind every non-null value of a type is written as; `None`
/// when it depends on the value, or nests.
fn kind_of(data_type: &DataType) -> Option<fn(&mut Shape)> {
    use DataType::*;
    Some(match data_type {
        Null => |_| {},
        Boolean => |s| s.boolean = true,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 => |s| s.long = true,
        Utf8 | LargeUtf8 | Utf8View | Binary | LargeBinary | BinaryView | FixedSizeBinary(_) | Date32 | Date64
        | Timestamp(..) | Time32(_) | Time64(_) => |s| s.string = true,
        Dictionary(_, values) => return kind_of(values),
        _ => return None,
    })
}
