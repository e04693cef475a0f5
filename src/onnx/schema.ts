/**
 * The part of ONNX's `onnx.proto` (IR version 10) that convkit reads and writes, as a protobufjs reflection
 * descriptor. Field names and numbers are the spec's (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto);
 * only the messages convolutional networks need are declared. Fields not declared here (functions, training
 * info, sparse tensors, quantization annotations...) are skipped by the decoder, so a model that uses them
 * still loads; the importer refuses what it cannot honour (sparse initializers, subgraphs) by name.
 *
 * A descriptor kept in this file (rather than a generated module or the `onnx-proto` package) keeps the reader
 * bounded to what we check and needs no code generation step.
 */

import type { INamespace } from "protobufjs";

const repeated = (type: string, id: number) => ({ rule: "repeated", type, id });
const one = (type: string, id: number) => ({ type, id });

export const ONNX_SCHEMA: INamespace = {
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            ir_version: one("int64", 1),
            opset_import: repeated("OperatorSetIdProto", 8),
            producer_name: one("string", 2),
            producer_version: one("string", 3),
            domain: one("string", 4),
            model_version: one("int64", 5),
            doc_string: one("string", 6),
            graph: one("GraphProto", 7),
            metadata_props: repeated("StringStringEntryProto", 14),
          },
        },
        OperatorSetIdProto: {
          fields: {
            domain: one("string", 1),
            version: one("int64", 2),
          },
        },
        StringStringEntryProto: {
          fields: {
            key: one("string", 1),
            value: one("string", 2),
          },
        },
        GraphProto: {
          fields: {
            node: repeated("NodeProto", 1),
            name: one("string", 2),
            initializer: repeated("TensorProto", 5),
            // Only counted (and refused) by the importer: its content is not declared.
            sparse_initializer: repeated("Opaque", 15),
            doc_string: one("string", 10),
            input: repeated("ValueInfoProto", 11),
            output: repeated("ValueInfoProto", 12),
            value_info: repeated("ValueInfoProto", 13),
          },
        },
        NodeProto: {
          fields: {
            input: repeated("string", 1),
            output: repeated("string", 2),
            name: one("string", 3),
            op_type: one("string", 4),
            domain: one("string", 7),
            attribute: repeated("AttributeProto", 5),
            doc_string: one("string", 6),
          },
        },
        AttributeProto: {
          fields: {
            name: one("string", 1),
            ref_attr_name: one("string", 21),
            doc_string: one("string", 13),
            type: one("int32", 20),
            f: one("float", 2),
            i: one("int64", 3),
            s: one("bytes", 4),
            t: one("TensorProto", 5),
            g: one("Opaque", 6),
            floats: repeated("float", 7),
            ints: repeated("int64", 8),
            strings: repeated("bytes", 9),
            tensors: repeated("TensorProto", 10),
            graphs: repeated("Opaque", 11),
          },
        },
        ValueInfoProto: {
          fields: {
            name: one("string", 1),
            type: one("TypeProto", 2),
            doc_string: one("string", 3),
          },
        },
        TypeProto: {
          fields: {
            tensor_type: one("TypeProtoTensor", 1),
            // Non-tensor types (sequence 4, map 5, sparse tensor 8, optional 9) are only detected.
            sequence_type: one("Opaque", 4),
            map_type: one("Opaque", 5),
            sparse_tensor_type: one("Opaque", 8),
            optional_type: one("Opaque", 9),
            denotation: one("string", 6),
          },
        },
        TypeProtoTensor: {
          fields: {
            elem_type: one("int32", 1),
            shape: one("TensorShapeProto", 2),
          },
        },
        TensorShapeProto: {
          fields: {
            dim: repeated("Dimension", 1),
          },
        },
        Dimension: {
          fields: {
            dim_value: one("int64", 1),
            dim_param: one("string", 2),
            denotation: one("string", 3),
          },
        },
        TensorProto: {
          fields: {
            dims: repeated("int64", 1),
            data_type: one("int32", 2),
            segment: one("Opaque", 3),
            float_data: repeated("float", 4),
            int32_data: repeated("int32", 5),
            string_data: repeated("bytes", 6),
            int64_data: repeated("int64", 7),
            name: one("string", 8),
            doc_string: one("string", 12),
            raw_data: one("bytes", 9),
            double_data: repeated("double", 10),
            uint64_data: repeated("uint64", 11),
            external_data: repeated("StringStringEntryProto", 13),
            data_location: one("int32", 14),
          },
        },
        /** A message whose content convkit does not read (its fields are skipped). */
        Opaque: { fields: {} },
      },
    },
  },
};
