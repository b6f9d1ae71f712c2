/**
 * A global model in standard formats, for use outside the system:
 *
 * - ONNX (`model.onnx`): the preprocessing and the model in one graph. One input
 *   per feature column, named after it, [N, 1]: numbers as float (NaN where
 *   missing), categories as strings ("" where missing). Numbers are imputed with
 *   the global mean and standardized, categories one-hot over the vocabulary with
 *   an unknown level, as the agents prepare rows (participant-agent/src/data/preprocess.ts);
 *   then the model. One output, `output`, what shared's predict() gives: the
 *   positive class's probability (logistic), class probabilities (softmax), the
 *   value in the target's units (linear), margins (svm), squared distances to
 *   each centre (kmeans). Standard ai.onnx operators only (opset 19), so any
 *   runtime runs it.
 * - TF.js LayersModel (`model.json` and `weights.bin`): one Dense layer on the
 *   prepared features, the rows prepared as above; loadable with tf.loadLayersModel.
 *
 * The protobuf is written with onnx-proto, the ONNX schema compiled for protobufjs.
 */
import { onnx } from 'onnx-proto';
import { parameterCount, type ModelShape, type Preprocessing } from '@fl/shared';

export const ONNX_OPSET = 19;

/** As the agents scale a column: a deviation of 0 (a constant column) leaves it unscaled. */
const usableStd = (std: number) => (Number.isFinite(std) && std > 1e-12 ? std : 1);

const T = onnx.TensorProto.DataType;
const INT = onnx.AttributeProto.AttributeType.INT;
const attr = (name: string, i: number) => onnx.AttributeProto.create({ name, type: INT, i });
const node = (opType: string, input: string[], output: string[], attribute: onnx.IAttributeProto[] = []) =>
  onnx.NodeProto.create({ opType, input, output, attribute, name: output[0] });
const floats = (name: string, values: ArrayLike<number>, dims: number[]) => onnx.TensorProto.create({ name, dataType: T.FLOAT, dims, floatData: Array.from(values) });
const strings = (name: string, values: string[], dims: number[]) =>
  onnx.TensorProto.create({ name, dataType: T.STRING, dims, stringData: values.map((v) => Buffer.from(v, 'utf8')) });
const int64s = (name: string, values: number[]) => onnx.TensorProto.create({ name, dataType: T.INT64, dims: [values.length], int64Data: values });
const valueInfo = (name: string, elemType: number, width: number) =>
  onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType, shape: { dim: [{ dimParam: 'N' }, { dimValue: width }] } } } });

/** The ONNX model of a job's global model: raw columns in, the model's output out. */
export function toOnnx(shape: ModelShape, weights: Float32Array, preprocessing: Preprocessing, name: string): Uint8Array {
  if (weights.length !== parameterCount(shape)) throw new Error('the weights do not match the model shape');
  const { inputDim: d, outputDim: k } = shape;
  const nodes: onnx.INodeProto[] = [];
  const initializer: onnx.ITensorProto[] = [];
  const inputs: onnx.IValueInfoProto[] = [];
  const parts: string[] = [];
  // The graph's inputs are the feature columns, by name: the graph's own names take a prefix no column has (a column named W or features is no other tensor).
  const columns = preprocessing.features.map((feature) => feature.name);
  let prefix = '_';
  while (columns.some((column) => column.startsWith(prefix))) prefix = `_${prefix}`;
  const at = (name: string) => `${prefix}${name}`;
  const output = columns.includes('output') ? at('output') : 'output';
  initializer.push(floats(at('one'), [1], [1, 1]), int64s(at('axis1'), [1]));
  preprocessing.features.forEach((feature, f) => {
    const input = feature.name;
    const p = at(`f${f}`);
    if (feature.type === 'numeric') {
      inputs.push(valueInfo(input, T.FLOAT, 1));
      initializer.push(floats(`${p}_mean`, [feature.mean], [1, 1]), floats(`${p}_std`, [usableStd(feature.std)], [1, 1]));
      nodes.push(
        node('IsNaN', [input], [`${p}_nan`]),
        node('Where', [`${p}_nan`, `${p}_mean`, input], [`${p}_imputed`]),
        node('Sub', [`${p}_imputed`, `${p}_mean`], [`${p}_centred`]),
        node('Div', [`${p}_centred`, `${p}_std`], [`${p}_out`]),
      );
    } else {
      // One-hot over the vocabulary, then the unknown level: 1 where no word matched (a missing or unseen value).
      inputs.push(valueInfo(input, T.STRING, 1));
      if (feature.vocabulary.length > 0) {
        initializer.push(strings(`${p}_vocabulary`, feature.vocabulary, [1, feature.vocabulary.length]));
        nodes.push(
          node('Equal', [input, `${p}_vocabulary`], [`${p}_equal`]),
          node('Cast', [`${p}_equal`], [`${p}_onehot`], [attr('to', T.FLOAT)]),
          node('ReduceSum', [`${p}_onehot`, at('axis1')], [`${p}_known`], [attr('keepdims', 1)]),
          node('Sub', [at('one'), `${p}_known`], [`${p}_unknown`]),
          node('Concat', [`${p}_onehot`, `${p}_unknown`], [`${p}_out`], [attr('axis', 1)]),
        );
      } else {
        // No word at all: every value is unknown.
        nodes.push(node('Shape', [input], [`${p}_shape`]), node('ConstantOfShape', [`${p}_shape`], [`${p}_out`], [onnx.AttributeProto.create({ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: floats('', [1], [1]) })]));
      }
    }
    parts.push(`${p}_out`);
  });
  nodes.push(node('Concat', parts, [at('features')], [attr('axis', 1)]));

  if (shape.kind === 'kmeans') {
    // ‖x − c‖² = ‖x‖² − 2·x·c + ‖c‖², every term one operator.
    const centres = weights.subarray(0, k * d);
    const transposed = new Float32Array(d * k);
    const norms = new Float32Array(k);
    for (let c = 0; c < k; c++) {
      for (let j = 0; j < d; j++) {
        transposed[j * k + c] = -2 * centres[c * d + j];
        norms[c] += centres[c * d + j] ** 2;
      }
    }
    initializer.push(floats(at('centres_t'), transposed, [d, k]), floats(at('centre_norms'), norms, [1, k]));
    nodes.push(
      node('ReduceSumSquare', [at('features'), at('axis1')], [at('row_norms')], [attr('keepdims', 1)]),
      node('MatMul', [at('features'), at('centres_t')], [at('cross')]),
      node('Add', [at('cross'), at('centre_norms')], [at('partial')]),
      node('Add', [at('partial'), at('row_norms')], [output]),
    );
  } else {
    initializer.push(floats(at('W'), weights.subarray(0, d * k), [d, k]), floats(at('b'), weights.subarray(d * k), [1, k]));
    nodes.push(node('MatMul', [at('features'), at('W')], [at('xw')]), node('Add', [at('xw'), at('b')], [at('logits')]));
    if (shape.kind === 'logistic') nodes.push(node('Sigmoid', [at('logits')], [output]));
    else if (shape.kind === 'softmax') nodes.push(node('Softmax', [at('logits')], [output], [attr('axis', 1)]));
    else if (shape.kind === 'svm') nodes.push(node('Identity', [at('logits')], [output]));
    else {
      const target = preprocessing.target.type === 'numeric' ? preprocessing.target : { mean: 0, std: 1 };
      initializer.push(floats(at('target_std'), [usableStd(target.std)], [1, 1]), floats(at('target_mean'), [target.mean], [1, 1]));
      nodes.push(node('Mul', [at('logits'), at('target_std')], [at('scaled')]), node('Add', [at('scaled'), at('target_mean')], [output]));
    }
  }
  const graph = onnx.GraphProto.create({ name, node: nodes, initializer, input: inputs, output: [valueInfo(output, T.FLOAT, k)] });
  const model = onnx.ModelProto.create({
    irVersion: 9,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'fl-coordinator',
    docString: `${shape.kind} model with its preprocessing: one input per feature column, raw values in`,
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

/** A TF.js LayersModel: model.json, and the weights file it names. */
export interface TfjsModel {
  modelJson: Record<string, unknown>;
  weights: Uint8Array;
}

/**
 * The model as one Dense layer on prepared rows. A linear model's layer gives the
 * value in the target's units (the standardization folded into its weights); a
 * k-means model's gives ‖c‖² − 2·x·c per centre, whose smallest is the row's
 * cluster (the squared distance less ‖x‖², which a Dense layer cannot add).
 */
export function toTfjs(shape: ModelShape, weights: Float32Array, preprocessing: Preprocessing, weightsPath = 'weights.bin'): TfjsModel {
  if (weights.length !== parameterCount(shape)) throw new Error('the weights do not match the model shape');
  const { inputDim: d, outputDim: k } = shape;
  let kernel = weights.slice(0, d * k);
  let bias = weights.slice(d * k);
  if (shape.kind === 'kmeans') {
    kernel = new Float32Array(d * k);
    bias = new Float32Array(k);
    for (let c = 0; c < k; c++) {
      for (let j = 0; j < d; j++) {
        kernel[j * k + c] = -2 * weights[c * d + j];
        bias[c] += weights[c * d + j] ** 2;
      }
    }
  } else if (shape.kind === 'linear' && preprocessing.target.type === 'numeric') {
    const { mean, std } = preprocessing.target;
    const scale = usableStd(std);
    kernel = kernel.map((w) => w * scale);
    bias = bias.map((b) => b * scale + mean);
  }
  const activation = shape.kind === 'logistic' ? 'sigmoid' : shape.kind === 'softmax' ? 'softmax' : 'linear';
  const data = new Uint8Array((d * k + k) * 4);
  new Float32Array(data.buffer).set(kernel);
  new Float32Array(data.buffer, d * k * 4).set(bias);
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'fl-coordinator',
    convertedBy: null,
    modelTopology: {
      class_name: 'Sequential',
      config: {
        name: 'global_model',
        layers: [
          {
            class_name: 'Dense',
            config: { name: 'dense', units: k, activation, use_bias: true, batch_input_shape: [null, d], dtype: 'float32', trainable: false },
          },
        ],
      },
      keras_version: 'tfjs-layers',
      backend: 'tensor_flow.js',
    },
    weightsManifest: [
      {
        paths: [weightsPath],
        weights: [
          { name: 'dense/kernel', shape: [d, k], dtype: 'float32' },
          { name: 'dense/bias', shape: [k], dtype: 'float32' },
        ],
      },
    ],
  };
  return { modelJson, weights: data };
}
